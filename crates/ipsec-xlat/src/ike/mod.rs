//! IKEv1: key derivation and the client, relay and test-SGW state machines.

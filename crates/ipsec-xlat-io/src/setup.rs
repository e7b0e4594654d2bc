//! Opening sockets (in progress).

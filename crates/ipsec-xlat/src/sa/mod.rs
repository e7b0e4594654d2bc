//! ESP/AH security association processing for the client and the test-SGW.

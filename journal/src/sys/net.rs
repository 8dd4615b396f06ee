//! Socket system calls for capture (recvmmsg, SO_TIMESTAMPNS, SO_RXQ_OVFL): the `unsafe` of the
//! capture module lives here.

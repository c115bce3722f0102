//! The catalog of every event a program can emit. (Being written: issue #3.)

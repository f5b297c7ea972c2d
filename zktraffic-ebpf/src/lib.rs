//! Present so the crate has a library target; the programs live in `main.rs`.
#![no_std]

//! The scratch-path guard of `common`: this binary's tests run in parallel, so a scratch path
//! handed out twice would be raced on; the second request panics instead.

#[test]
#[should_panic(expected = "is used by two tests")]
fn a_scratch_directory_is_handed_out_once() {
    crate::common::fresh_dir("scratch-guard");
    crate::common::fresh_dir("scratch-guard");
}

#[test]
#[should_panic(expected = "is used by two tests")]
fn a_scratch_file_is_handed_out_once() {
    crate::common::scratch_file("scratch-guard-files", "x.npy");
    crate::common::scratch_file("scratch-guard-files", "x.npy");
}

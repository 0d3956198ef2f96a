package main

// The variables the tests themselves read: a process of this test binary
// running main() inherits them, and they are no configuration keys.
func init() {
	notKeys = append(notKeys, "AUTHD_TEST_AS_MAIN", "AUTHD_CRASH_KILLS", "AUTHD_CRASH_SEED", "AUTHD_UPDATE_SCREENSHOTS")
}

//go:build race

package password

// raceEnabled: the race detector slows pure-Go bcrypt about tenfold, so the
// slowest vectors are left to the normal test run.
const raceEnabled = true

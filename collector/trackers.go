package collector

// trackers keep what needs history, fed by the watches and read by the collections:
// restart totals that survive pod recreation, bind durations, Lease holder changes.
type trackers struct {
	restarts *restartTracker
	binds    *bindDurations
	leases   *leaseTracker
}

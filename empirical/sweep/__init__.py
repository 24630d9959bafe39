"""A sweep: its configuration, work units, per-row measurement records and the resumable run loop."""

// Temporary: keeps the target non-empty until the simulator core lands.

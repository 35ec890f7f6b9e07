"""The drills: scenarios, the runner, what a drill measured (report, connections) and its plot."""

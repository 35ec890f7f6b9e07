"""The local lab: embedded AWS emulator, netns data plane, drills."""

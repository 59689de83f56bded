package session

// SetCrashHook sets the hook that makes a session panic at a named point,
// for the tests of crash containment; it is defined in a _test file so
// that nothing but a test binary can call it.
func SetCrashHook(f func(point string)) { crashHook = f }

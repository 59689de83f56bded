package policy

// Host is what a policy's names mean on one machine: its users and
// groups. Parse reads nothing of the machine it runs on, since a policy
// may be written for another one (`sockjail unit` writes units for any
// host); CheckHost asks a Host instead. internal/users.Host answers from
// this machine's databases.
type Host interface {
	// LookupUser reports whether s (a name or a numeric uid) is a user
	// here; err is a failed or refused lookup, said for the policy's
	// author.
	LookupUser(s string) (found bool, err error)
	// LookupGroup is LookupUser for groups.
	LookupGroup(s string) (found bool, err error)
	// LocalUserIn returns a user of the host's own user file whose uid is
	// in lo..hi (name "" when none is), and that file's name.
	LocalUserIn(lo, hi uint32) (name string, uid uint32, file string, err error)
}

// CheckHost checks what p names on the host h: the [program] user and
// group exist, and no user of the host's user file has a uid in
// dynamic_uids when user is "dynamic" or "" (a dynamic uid as root). Its errors are an ErrorList at the
// keys' positions in p's file, as Parse reports its own. It does not check
// what the sandbox checks when it is prepared (paths, the kernel's
// features), nor users that only a network directory knows of in the
// dynamic range.
func (p *Policy) CheckHost(h Host) error {
	d := &decoder{file: p.Source, data: p.text, failedPaths: map[string]bool{}}
	pr := &p.Program
	switch pr.User {
	case "", UserDynamic:
		// "" is a dynamic uid too when sockjail runs as root.
		r := pr.DynamicUIDs
		name, uid, file, err := h.LocalUserIn(r.Lo, r.Hi)
		switch {
		case err != nil:
			d.errorf("program.dynamic_uids", "can't check the uid range against %s: %v", file, err)
		case name != "":
			d.errorf(d.later("program.dynamic_uids", "program.user"), "uid range %s includes user %q (uid %d) from %s", r, name, uid, file)
		}
	default:
		found, err := h.LookupUser(pr.User)
		switch {
		case err != nil:
			d.errorf("program.user", "%v", err)
		case !found:
			d.errorf("program.user", "unknown user %q: write a user name from this machine, a numeric uid, or %q", pr.User, UserDynamic)
		}
	}
	if pr.Group != "" && pr.User != UserDynamic {
		found, err := h.LookupGroup(pr.Group)
		switch {
		case err != nil:
			d.errorf("program.group", "%v", err)
		case !found:
			d.errorf("program.group", "unknown group %q: write a group name from this machine or a numeric gid", pr.Group)
		}
	}
	if len(d.errs) > 0 {
		return d.errs.sorted()
	}
	return nil
}

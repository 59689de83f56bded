package learn

import (
	"cmp"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sockjail/sockjail/policy"
)

// DirectoryFiles is how many entries of one directory a program must have
// read for the written policy to name the directory in read_only instead
// of the entries. A directory the program listed is always named whole:
// Landlock's right to list a directory is a right on everything below it.
// exec never collapses: running one more program is worth a line.
const DirectoryFiles = 4

// SystemDirs are the directories where a learned write, create or remove
// gets a WARNING: the system's own files, which a served program has no
// business changing.
var SystemDirs = []string{"/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/sbin", "/sys", "/usr"}

// WritePolicy returns the narrowest policy that lets a program do what
// obs saw it do, as a policy file that explains itself, and the warnings
// it wrote in the file (each a "# WARNING" comment there too).
//
// The policy is base (the embedded default when nil) with its
// [filesystem] lists, [network] ports and unix scope, and [syscalls] lists
// replaced by what was observed, and enforce = "strict"; every other
// setting is base's. header says how the observations were made (the
// command line, the sessions): it opens the file as a comment, and must
// hold no date, so that the same observations give the same bytes. The
// rules are in docs/learn.md.
//
// WritePolicy checks its output: it parses back with [policy.Parse] to
// the policy it describes, or WritePolicy fails. What a policy can't
// express is left out with a warning: a path that is not absolute, clean
// UTF-8, a syscall not in the x86-64 table, port 0, listen(2) without a
// bound port. It does not look at the filesystem: whether a path is a file
// or a directory is learned from obs alone. Not covered: unix sockets one
// by one (a policy can only turn the abstract scope off), UDP, and the
// host's users (the base's [program] is kept as it is; `sockjail check`
// runs policy.CheckHost).
func WritePolicy(base *policy.Policy, obs *Observations, header string) (text []byte, warnings []string, err error) {
	if base == nil {
		base = policy.Default()
	}
	if obs == nil {
		obs = &Observations{}
	}
	w := &writer{
		obs:    obs,
		sorted: sortedKeys(obs.Paths),
		base:   base,
		p:      base.Clone(),
		// The base's host-dependent defaults stay implicit: a learned
		// policy written from the default must run where the default
		// does (unprivileged, without a cgroup), not refuse there.
		comments: policy.Comments{Keys: map[string][]string{}, KeepImplicit: true},
	}
	w.p.Enforce = policy.EnforceStrict
	w.header(header)
	w.filesystem()
	w.network()
	w.syscalls()

	text, err = w.p.MarshalCommented(w.comments)
	if err != nil {
		return nil, nil, fmt.Errorf("writing the learned policy: %w", err)
	}
	if len(text) > policy.MaxFileSize {
		return nil, nil, fmt.Errorf("the learned policy would be %d bytes, over the %d a policy file may have: the program used %d paths that no directory rule could gather; give it a base policy with the directories it needs, and learn again", len(text), policy.MaxFileSize, len(obs.Paths))
	}
	back, err := policy.Parse("(learned)", text)
	if err != nil {
		return nil, nil, fmt.Errorf("the learned policy does not parse (a bug in sockjail learn): %w", err)
	}
	if !back.Equal(w.p) {
		return nil, nil, fmt.Errorf("the learned policy parses to another policy (a bug in sockjail learn)")
	}
	return text, w.warnings, nil
}

// writer builds one learned policy and its comments.
type writer struct {
	obs      *Observations
	sorted   []string // obs.Paths' keys
	base     *policy.Policy
	p        *policy.Policy
	comments policy.Comments
	warnings []string
}

// leaveOut records a warning about something the policy can't say, in
// the file's header too.
func (w *writer) leaveOut(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	w.warnings = append(w.warnings, msg)
	w.comments.Header = append(w.comments.Header, wrap("WARNING: "+msg, 76)...)
}

// warn records a warning, and returns it as a comment line.
func (w *writer) warn(format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	w.warnings = append(w.warnings, msg)
	return "WARNING: " + msg
}

// comment adds lines above key, each wrapped to fit a terminal.
func (w *writer) comment(key string, lines ...string) {
	for _, l := range lines {
		w.comments.Keys[key] = append(w.comments.Keys[key], wrap(l, 76)...)
	}
}

// wrap breaks s into lines of at most width bytes at spaces, where it can.
func wrap(s string, width int) []string {
	var out []string
	for len(s) > width {
		cut := strings.LastIndexByte(s[:width+1], ' ')
		if cut <= 0 {
			break
		}
		out = append(out, s[:cut])
		s = strings.TrimLeft(s[cut:], " ")
	}
	return append(out, s)
}

func (w *writer) header(header string) {
	h := []string{
		"Written by `sockjail learn`: the narrowest policy that covers what the",
		"program was seen doing. Everything it was not seen doing is denied.",
		"Review it before use, the lines marked WARNING first; docs/learn.md says",
		"how each list was made.",
	}
	if header = strings.TrimSpace(header); header != "" {
		h = append(h, "")
		h = append(h, strings.Split(header, "\n")...)
	}
	w.comments.Header = h
	kept := "Kept from the default policy."
	if w.base.Source != policy.DefaultSource {
		kept = fmt.Sprintf("Kept from the base policy, %s.", w.base.Source)
	}
	for _, t := range []string{"program", "connection", "limits", "serve", "terminal"} {
		w.comment(t, kept)
	}
	w.comment("enforce", "strict: the learned policy is meant to be enforced as it is.")
}

// filesystem writes the [filesystem] lists.
func (w *writer) filesystem() {
	var (
		readPaths   = map[string]bool{} // read or listed
		execPaths   = map[string]bool{}
		createdExec = map[string]bool{} // directories of files created and executed
		writeFiles  = map[string]bool{} // written in place
		changedDirs = map[string]bool{} // a file in them created or removed
		devicePaths = map[string]bool{}
	)
	for _, name := range w.sorted {
		a := w.obs.Paths[name]
		if a == 0 || w.sandboxOwn(name) {
			continue
		}
		if why := policyPathProblem(name); why != "" {
			w.leaveOut("%q left out: %s", name, why)
			continue
		}
		if a&Device != 0 {
			if strings.HasPrefix(name, "/dev/") {
				devicePaths[name] = true
			} else {
				w.leaveOut("device %q left out: the policy's devices must be under /dev", name)
			}
			continue
		}
		if a&(Create|Remove) != 0 && name != "/" {
			changedDirs[path.Dir(name)] = true
		}
		if a&Write != 0 {
			writeFiles[name] = true
		}
		if a&Exec != 0 {
			if a&(Create|Remove) != 0 && name != "/" {
				// A file rule holds the inode that exists when the
				// session starts: a file the program creates can only
				// be run through its directory.
				createdExec[path.Dir(name)] = true
			} else {
				execPaths[name] = true
			}
		}
		if a&(Read|List) != 0 {
			readPaths[name] = true
		}
	}

	// read_write: the directories where files were created or removed,
	// and the files written in place outside them.
	rw := outermost(slices.Concat(sortedKeys(changedDirs), sortedKeys(writeFiles)))
	// exec: the files run (a directory only for a file created there).
	// read_only: single files, or their directory by the directory
	// rule, less what a writable or executable entry covers already
	// (Landlock can't take a right back below a read_write directory,
	// and policy.Parse refuses it).
	ex := outermost(slices.Concat(sortedKeys(execPaths), sortedKeys(createdExec)))
	ro := outermost(collapse(readPaths))
	rwSet, exSet := setOf(rw), setOf(ex)
	ro = slices.DeleteFunc(ro, func(p string) bool { return coveredBy(p, rwSet) || coveredBy(p, exSet) })
	dev := sortedKeys(devicePaths)

	fs := &w.p.Filesystem
	fs.ReadOnly, fs.ReadWrite, fs.Exec, fs.Devices = toPaths(ro), toPaths(rw), toPaths(ex), toPaths(dev)

	w.comment("filesystem", "Learned: the paths the program used. private_tmp, tmp_size, tmp_inodes,",
		"proc and shm_size are kept from the base policy; what the program did in",
		"its private /tmp, /var/tmp, /dev/shm and /proc needs no entry.")
	w.comment("filesystem.read_only", fmt.Sprintf("Files and directories read. A directory stands for its files where the program listed it, or read %d or more files directly in it (not for \"/\" or a directory right under it).", DirectoryFiles))
	w.comment("filesystem.read_write", "Files written in place, and the directories where files were created or removed.")
	w.comment("filesystem.exec", "Files executed: programs, #! interpreters, the ELF loader. A directory only where the program ran a file it had created there.")
	w.comment("filesystem.devices", "Devices opened.")

	for i, p := range ro {
		lines := []string{w.describe(p, "listed", List, "directories") + "; " + w.describe(p, "read", Read, "files")}
		lines[0] = strings.Trim(lines[0], "; ")
		if p == "/" {
			lines = append(lines, w.warn("read_only \"/\": the program opened the root directory, so it may read every file its user may read"))
		}
		w.comment(elementPath("filesystem.read_only", i), lines...)
	}
	for i, p := range rw {
		var parts []string
		for _, v := range []struct {
			verb string
			a    Access
		}{{"created", Create}, {"removed", Remove}, {"wrote", Write}} {
			if d := w.describe(p, v.verb, v.a, "files"); d != "" {
				parts = append(parts, d)
			}
		}
		lines := []string{strings.Join(parts, "; ")}
		if p == "/" {
			lines = append(lines, w.warn("read_write \"/\": the program created or removed a file right under /, so it may change every file its user may"))
		} else if dir, ok := systemDir(p); ok {
			lines = append(lines, w.warn("read_write %q: the program changed files in the system directory %s", p, dir))
		}
		w.comment(elementPath("filesystem.read_write", i), lines...)
	}
	for i, p := range ex {
		lines := []string{w.describe(p, "executed", Exec, "files")}
		if createdExec[p] {
			lines = append(lines, w.warn("exec %q: the program ran a file it created there, so it may run whatever it writes there", p))
		}
		w.comment(elementPath("filesystem.exec", i), lines...)
	}
	for i := range dev {
		w.comment(elementPath("filesystem.devices", i), "opened")
	}
}

// sandboxOwn reports whether name is in what the sandbox gives every
// session of base: its private /tmp and /var/tmp, /dev/shm and /proc.
func (w *writer) sandboxOwn(name string) bool {
	fs := w.base.Filesystem
	return fs.PrivateTmp && (atOrBelow(name, "/tmp") || atOrBelow(name, "/var/tmp")) ||
		fs.ShmSize > 0 && atOrBelow(name, "/dev/shm") ||
		fs.Proc && atOrBelow(name, "/proc")
}

// policyPathProblem says why name can't be a policy entry, or "".
func policyPathProblem(name string) string {
	switch {
	case !utf8.ValidString(name):
		return "not UTF-8, which a policy file can't hold"
	case strings.ContainsRune(name, 0):
		return "contains a NUL byte"
	case !strings.HasPrefix(name, "/") || path.Clean(name) != name:
		return "not an absolute, clean path"
	}
	return ""
}

// collapse applies the directory rule to a set of paths: a directory with
// DirectoryFiles or more of the paths directly in it, but not "/" or a
// directory right under it, replaces them. (A directory the program
// listed is in paths itself, and outermost drops what is below it.)
func collapse(paths map[string]bool) []string {
	byDir := map[string][]string{}
	for p := range paths {
		if p != "/" {
			byDir[path.Dir(p)] = append(byDir[path.Dir(p)], p)
		}
	}
	out := map[string]bool{}
	for p := range paths {
		out[p] = true
	}
	for dir, files := range byDir {
		if len(files) >= DirectoryFiles && strings.Count(dir, "/") >= 2 {
			for _, f := range files {
				delete(out, f)
			}
			out[dir] = true
		}
	}
	return sortedKeys(out)
}

// outermost returns the paths, sorted, without those at or below another.
func outermost(paths []string) []string {
	set := map[string]bool{}
	for _, p := range paths {
		set[p] = true
	}
	var out []string
	for _, p := range sortedKeys(set) {
		if !coveredBy(path.Dir(p), set) || p == "/" {
			out = append(out, p)
		}
	}
	return out
}

// coveredBy reports whether p or a directory above it is in dirs.
func coveredBy(p string, dirs map[string]bool) bool {
	for {
		if dirs[p] {
			return true
		}
		if p == "/" || p == "." || p == "" {
			return false
		}
		p = path.Dir(p)
	}
}

func atOrBelow(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// systemDir returns the system directory p is at or below.
func systemDir(p string) (string, bool) {
	for _, d := range SystemDirs {
		if atOrBelow(p, d) {
			return d, true
		}
	}
	return "", false
}

// describe says what was seen at or below entry with the access a: "read",
// "read /srv/a/x", "read 12 files, e.g. /srv/a/index.html", or "" when
// nothing was.
func (w *writer) describe(entry, verb string, a Access, noun string) string {
	var n int
	example := ""
	note := func(p string) {
		if w.obs.Paths[p]&a == 0 {
			return
		}
		n++
		if example == "" || example == entry {
			example = p
		}
	}
	// The paths below entry sort together, after entry+"/" (a sibling
	// such as entry+"-x" sorts between entry and them).
	if _, ok := slices.BinarySearch(w.sorted, entry); ok {
		note(entry)
	}
	prefix := strings.TrimSuffix(entry, "/") + "/"
	i, _ := slices.BinarySearch(w.sorted, prefix)
	for ; i < len(w.sorted) && strings.HasPrefix(w.sorted[i], prefix); i++ {
		note(w.sorted[i])
	}
	switch {
	case n == 0:
		return ""
	case n == 1 && example == entry:
		return verb
	case n == 1:
		return verb + " " + example
	}
	return fmt.Sprintf("%s %d %s, e.g. %s", verb, n, noun, example)
}

func setOf(list []string) map[string]bool {
	set := make(map[string]bool, len(list))
	for _, s := range list {
		set[s] = true
	}
	return set
}

func toPaths(names []string) []policy.Path {
	out := make([]policy.Path, len(names))
	for i, n := range names {
		out[i] = policy.Path{Name: n}
	}
	return out
}

// network writes the TCP ports and the abstract unix scope.
func (w *writer) network() {
	n := &w.p.Network
	n.BindTCP = w.ports("network.bind_tcp", "bound", w.obs.BindTCP)
	n.ConnectTCP = w.ports("network.connect_tcp", "connected to", w.obs.ConnectTCP)
	if len(n.BindTCP) == 0 && w.obs.Syscalls["listen"] > 0 {
		// The sandbox refuses listen(2) when bind_tcp is empty: on an
		// unbound socket it would bind an ephemeral port unchecked.
		w.leaveOut("the program called listen(2) without binding a TCP port a policy can allow (it listened on an ephemeral port, or on a unix socket): with bind_tcp empty, sockjail refuses listen(2) with EACCES, so it will fail under this policy")
	}
	w.comment("network", "Learned: the TCP ports the program bound and connected to, and whether it used unix sockets. scope_signals is kept from the base policy.")
	w.comment("network.bind_tcp", "The TCP ports the program bound, exactly.")
	w.comment("network.connect_tcp", "The TCP ports the program connected to (on any host), exactly.")

	var sockets, probes []string
	for _, name := range sortedKeys(w.obs.Unix) {
		if slices.Contains(nscdSockets, name) {
			probes = append(probes, name)
		} else {
			sockets = append(sockets, name)
		}
	}
	if probes != nil && sockets == nil {
		w.comment("network.scope_abstract_unix", fmt.Sprintf("The C library tried nscd at %s, and does without it (it reads /etc/passwd and the like instead), so unix sockets stay as the base policy has them.", strings.Join(quoteAll(probes), ", ")))
	}
	if len(sockets) == 0 {
		return
	}
	n.ScopeAbstractUnix = false
	shown := sockets[:min(len(sockets), 5)]
	more := ""
	if len(sockets) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(sockets)-len(shown))
	}
	w.comment("network.scope_abstract_unix",
		fmt.Sprintf("The program used unix sockets: %s%s.", strings.Join(quoteAll(shown), ", "), more),
		w.warn("scope_abstract_unix = false: the program used unix sockets, so it may reach abstract unix sockets outside its sandbox, and below Landlock ABI 9 any pathname unix socket its user may open"))
}

// nscdSockets are where glibc looks for nscd before it reads the files of
// /etc/nsswitch.conf itself: a program that looks up a user or a host
// tries them whether nscd runs or not, and works without them.
var nscdSockets = []string{"/run/nscd/socket", "/var/run/nscd/socket"}

// ports returns the ports of seen in order, with their comments.
func (w *writer) ports(key, verb string, seen map[uint16]int) []policy.PortRange {
	out := []policy.PortRange{}
	for _, port := range sortedKeys(seen) {
		if port == 0 {
			w.leaveOut("%s: the program %s port 0 (an ephemeral port of the kernel's choice), which a policy can't allow; give it a fixed port", key, verb)
			continue
		}
		lines := []string{verb}
		if port < 1024 {
			lines = append(lines, w.warn("%s = %d: the program %s a port below 1024, where system services listen", key, port, verb))
		}
		w.comment(elementPath(key, len(out)), lines...)
		out = append(out, policy.PortRange{Lo: port, Hi: port})
	}
	return out
}

// syscalls writes allow (what was made, in whole groups where every member
// was) and deny (the base's, less what was made).
func (w *writer) syscalls() {
	used := map[string]bool{}
	for _, name := range sortedKeys(w.obs.Syscalls) {
		if _, ok := policy.LookupSyscall(name); !ok {
			w.leaveOut("syscall %q left out: not in the x86-64 syscall table", name)
			continue
		}
		used[name] = true
	}

	// The syscalls the default or the base denies, and which entry does.
	deniedBy := map[string]string{}
	for _, deny := range [][]string{policy.Default().Syscalls.Deny, w.base.Syscalls.Deny} {
		for _, entry := range deny {
			for _, m := range members(entry) {
				if _, ok := deniedBy[m]; !ok {
					deniedBy[m] = entry
				}
			}
		}
	}

	groups := fullGroups(used)
	inGroup := map[string]bool{}
	for _, g := range groups {
		for _, m := range members(g) {
			inGroup[m] = true
		}
	}
	allow := slices.Clone(groups)
	for _, name := range sortedKeys(used) {
		if !inGroup[name] {
			allow = append(allow, name)
		}
	}
	for i, entry := range allow {
		var lines []string
		if strings.HasPrefix(entry, "@") {
			lines = append(lines, fmt.Sprintf("all %d of its syscalls were made", len(members(entry))))
		}
		for _, m := range members(entry) {
			if by, ok := deniedBy[m]; ok {
				if by != m {
					by = m + ", in " + by
				}
				lines = append(lines, w.warn("syscalls.allow %q: the program made %s, which the base or default policy denies", m, by))
			}
		}
		if lines != nil {
			w.comment(elementPath("syscalls.allow", i), lines...)
		}
	}

	deny := []string{}
	var dropped []string
	for _, entry := range w.base.Syscalls.Deny {
		i := slices.IndexFunc(members(entry), func(m string) bool { return used[m] })
		if i < 0 {
			deny = append(deny, entry)
		} else if m := members(entry)[i]; m == entry {
			dropped = append(dropped, entry)
		} else {
			dropped = append(dropped, entry+" (for "+m+")")
		}
	}
	w.p.Syscalls.Allow, w.p.Syscalls.Deny = allow, deny
	w.comment("syscalls", "Learned: the syscalls the program made. action and errno are kept from the base policy.")
	w.comment("syscalls.allow", "The syscalls the program made, by name; a @group where it made every syscall of the group.")
	w.comment("syscalls.deny", "The base policy's deny list, less the entries with a syscall the program made.")
	if dropped != nil {
		w.comment("syscalls.deny", "Dropped: "+strings.Join(dropped, ", ")+".")
	}
}

// members returns the syscalls a syscall name or @group stands for.
func members(entry string) []string {
	if !strings.HasPrefix(entry, "@") {
		return []string{entry}
	}
	m, _ := policy.GroupMembers(entry)
	return m
}

// fullGroups returns the groups whose every syscall is in used, sorted,
// without those inside another of them (and of groups with the same
// syscalls, the first by name).
func fullGroups(used map[string]bool) []string {
	type group struct {
		name    string
		members []string
	}
	var full []group
	for _, g := range policy.SyscallGroups() {
		m := members(g)
		if len(m) > 0 && !slices.ContainsFunc(m, func(s string) bool { return !used[s] }) {
			full = append(full, group{g, m})
		}
	}
	var out []string
	for _, g := range full {
		inside := slices.ContainsFunc(full, func(h group) bool {
			if h.name == g.name || len(h.members) < len(g.members) {
				return false
			}
			for _, m := range g.members {
				if _, ok := slices.BinarySearch(h.members, m); !ok {
					return false
				}
			}
			// Equal sets: keep the first name.
			return len(h.members) > len(g.members) || h.name < g.name
		})
		if !inside {
			out = append(out, g.name)
		}
	}
	return out
}

func elementPath(key string, i int) string { return key + "[" + strconv.Itoa(i) + "]" }

func quoteAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strconv.Quote(s)
	}
	return out
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}

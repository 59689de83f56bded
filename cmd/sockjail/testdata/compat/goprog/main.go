// A Go program under the default policy: os/exec, timers and /proc/self.
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

func main() {
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	fmt.Printf("stdin=%s\n", strings.TrimSpace(line))
	out, err := exec.Command("echo", "child").Output()
	fmt.Printf("exec=%s%v\n", strings.TrimSpace(string(out)), errText(err))
	fired := make(chan time.Duration)
	start := time.Now()
	time.AfterFunc(20*time.Millisecond, func() { fired <- time.Since(start) })
	fmt.Printf("timer=%v\n", <-fired >= 20*time.Millisecond)
	if b, err := os.ReadFile("/proc/self/status"); err != nil {
		fmt.Printf("status=%v\n", err)
	} else {
		fmt.Printf("status=%s\n", strings.Fields(string(b))[1])
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err != nil {
		fmt.Printf("fds=%v\n", err)
	} else {
		// The standard ones; the runtime's own (epoll, the
		// directory) vary with Go's version.
		var std []string
		for _, e := range ents {
			if n := e.Name(); n == "0" || n == "1" || n == "2" {
				std = append(std, n)
			}
		}
		fmt.Printf("fds=%s\n", strings.Join(std, ","))
	}
	exe, err := os.Executable()
	fmt.Printf("exe=%s%v\n", exe, errText(err))
}

func errText(err error) string {
	if err != nil {
		return " " + err.Error()
	}
	return ""
}

// A driver over Porcupine (github.com/anishathalye/porcupine, MIT) for
// bench/checker_linear.py: it checks each FILE:KIND given (KIND etcd: the
// Jepsen etcd log with Porcupine's etcd model; kv: the Jepsen kv EDN lines
// with Porcupine's partitioned kv model) and prints one JSON line per file:
// the verdict ("true", "false", "unknown") and the CPU (user + system, all
// threads: Porcupine checks partitions in parallel goroutines) and wall
// time of parsing and of checking, in seconds.
//
// The models and parsers are Porcupine's own, taken verbatim from its
// porcupine_test.go by the benchmark script at build time (models.go); this
// file is only the timing glue.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/anishathalye/porcupine"
)

func cpu() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

type row struct {
	File      string  `json:"file"`
	Verdict   string  `json:"verdict"`
	ParseCPU  float64 `json:"parse_cpu"`
	ParseWall float64 `json:"parse_wall"`
	CheckCPU  float64 `json:"check_cpu"`
	CheckWall float64 `json:"check_wall"`
}

func main() {
	timeout := flag.Duration("timeout", 60*time.Second, "per-file time limit (then unknown)")
	flag.Parse()
	enc := json.NewEncoder(os.Stdout)
	for _, arg := range flag.Args() {
		i := strings.LastIndex(arg, ":")
		if i < 0 {
			fmt.Fprintf(os.Stderr, "%s: expected FILE:KIND with KIND etcd or kv\n", arg)
			os.Exit(3)
		}
		file, kind := arg[:i], arg[i+1:]
		c0, w0 := cpu(), time.Now()
		var events []porcupine.Event
		var model porcupine.Model
		switch kind {
		case "etcd":
			events, model = parseJepsenLog(file), etcdModel
		case "kv":
			events, model = parseKvLog(file), kvModel
		default:
			fmt.Fprintf(os.Stderr, "%s: unknown kind %q; expected etcd or kv\n", arg, kind)
			os.Exit(3)
		}
		c1, w1 := cpu(), time.Now()
		res := porcupine.CheckEventsTimeout(model, events, *timeout)
		c2, w2 := cpu(), time.Now()
		verdict := map[porcupine.CheckResult]string{porcupine.Ok: "true", porcupine.Illegal: "false", porcupine.Unknown: "unknown"}[res]
		enc.Encode(row{file, verdict, c1 - c0, w1.Sub(w0).Seconds(), c2 - c1, w2.Sub(w1).Seconds()})
	}
}

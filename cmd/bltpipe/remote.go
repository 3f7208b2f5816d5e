package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/bltpipe/bltpipe/pipelines"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/patch"
)

// warnRemotePaths warns about local paths a Dataflow job is given: its
// workers are VMs that see only the job's staged files and cloud storage.
// (Flink TaskManagers may share a mount with this machine, so no warning
// there; docs/SCALE.md says what each environment can read.)
func warnRemotePaths(w io.Writer, runner string, o pipelines.Options) {
	if runner != "dataflow" {
		return
	}
	paths := append(append([]string{}, o.Inputs...), o.Output)
	if o.ModelDir != patch.NoModel {
		paths = append(paths, o.ModelDir)
	}
	for _, p := range paths {
		if p != "" && fsio.Scheme(p) == "" {
			fmt.Fprintf(w, "bltpipe run: warning: %s is a local path; Dataflow workers cannot read or write it (use gs://)\n", p)
		}
	}
}

// printDetached reports a job that was submitted (--async) or only staged
// (Dataflow's --dry_run, --template_location) instead of run.
func printDetached(w io.Writer, runner string, pr beam.PipelineResult, output string) {
	id := ""
	if pr != nil {
		id = pr.JobID()
	}
	if id == "" {
		fmt.Fprintf(w, "bltpipe run: not waiting for the %s job (--async, --dry_run or --template_location)\n", runner)
	} else {
		fmt.Fprintf(w, "bltpipe run: submitted %s job %s; not waiting for it (--async)\n", runner, id)
	}
	fmt.Fprintf(w, "output:   %s\nthe run is complete when %s exists\n", output, strings.TrimSuffix(output, "/")+"/"+schemas.ManifestFile)
}

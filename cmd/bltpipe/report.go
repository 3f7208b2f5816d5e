package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/bltpipe/bltpipe/cmd/bltpipe/internal/plots"
	"github.com/bltpipe/bltpipe/pipelines/outputs"
	"github.com/bltpipe/bltpipe/transforms/progress"
)

func init() {
	register(command{
		name:    "report",
		summary: "write one self-contained HTML page about a finished run (tables, histograms, example documents, shells)",
		run:     runReport,
	})
}

const reportUsage = `Usage: bltpipe report DIR [--out report.html] [--examples N] [--bytes N]

Writes one self-contained HTML page (inline CSS, images as base64 PNG; no
network access needed to view it) about a finished run: the summary of
bltpipe inspect as tables, the entropy, prominence and patch-length
histograms, the first --examples documents with their entropy figures (first
--bytes bytes each) and, when bltpipe waterfill ran, shell occupancy against
capacity.

Examples:
  bltpipe report out/demo --out report.html
  bltpipe report out/demo --examples 10 --bytes 200 --out /tmp/r.html
`

func runReport(args []string, stdout io.Writer) error {
	fs := newFlagSet("report", reportUsage, stdout)
	out := fs.String("out", "report.html", "HTML `FILE` to write")
	examples := fs.Int("examples", 4, "number of example documents with entropy figures")
	maxBytes := fs.Int("bytes", 120, "bytes drawn per example document (0: all)")
	dir, err := parseWithDir(fs, args)
	if err != nil {
		return err
	}
	if *examples < 0 || *maxBytes < 0 {
		return usageErrorf("--examples and --bytes must be ≥ 0")
	}
	ctx := context.Background()
	r, err := openRun(ctx, dir)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := writeReport(ctx, &buf, r, *examples, *maxBytes); err != nil {
		return err
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	fmt.Fprintf(stdout, "wrote %s (%s)\n", *out, progress.HumanBytes(int64(buf.Len())))
	return nil
}

type kv struct{ K, V string }

type reportExample struct {
	ID      string
	Summary string
	PNG     template.URL
}

type reportData struct {
	Title     string
	Summary   []kv
	Run       []kv
	Rejects   []kv
	Histogram template.URL
	Examples  []reportExample
	Occupancy template.URL
	Shells    []kv
	Images    int
}

func pngURL(draw func(io.Writer) error) (template.URL, error) {
	var b bytes.Buffer
	if err := draw(&b); err != nil {
		return "", err
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())), nil
}

func writeReport(ctx context.Context, w io.Writer, r *outputs.Run, examples, maxBytes int) error {
	s, err := r.Summarize(ctx)
	if err != nil {
		return err
	}
	d := reportData{Title: "bltpipe run " + s.Dir}
	var mods []string
	for m, n := range s.Modalities {
		mods = append(mods, fmt.Sprintf("%s %s", m, num(n)))
	}
	sort.Strings(mods)
	d.Summary = []kv{
		{"documents", fmt.Sprintf("%s (%s)", num(s.Documents), strings.Join(mods, ", "))},
		{"bytes", fmt.Sprintf("%s (%s)", num(s.Bytes), progress.HumanBytes(s.Bytes))},
		{"tokens", num(s.Tokens)},
		{"patches", num(s.Patches)},
		{"splits", num(s.Splits)},
		{"mean patch length", fmt.Sprintf("%.2f tokens, %.2f bytes", s.MeanPatchTokens, s.MeanPatchBytes)},
		{"median patch length", fmt.Sprintf("%g tokens", s.MedianPatchTokens)},
		{"on disk", fmt.Sprintf("%s in %d files", progress.HumanBytes(s.DiskBytes), len(r.Manifest.Shards))},
	}
	if t := s.Timing; t != nil {
		d.Summary = append(d.Summary,
			kv{"wall time", fmt.Sprintf("%.1f s on %s, finished %s", t.WallSeconds, t.Runner, t.Finished)},
			kv{"throughput", fmt.Sprintf("%s/s, %s tokens/s, %.1f documents/s", progress.HumanBytes(int64(t.BytesPerSec)), num(int64(t.TokensPerSec)), t.DocsPerSec)})
	}
	d.Run = []kv{
		{"tool", s.Run.Tool + " " + s.Run.Version},
		{"inputs", strings.Join(s.Run.Inputs, ", ")},
	}
	d.Run = append(d.Run, modelRows(s.Run.Model)...)
	d.Run = append(d.Run, []kv{
		{"patcher", patcherLine(s.Run)},
		{"embeddings", s.Run.Embeddings},
		{"segmenter", s.Run.Segmenter},
		{"batch tokens", fmt.Sprint(s.Run.BatchTokens)},
	}...)
	if s.RejectsByStage != nil {
		stages := make([]string, 0, len(s.RejectsByStage))
		for st := range s.RejectsByStage {
			stages = append(stages, st)
		}
		sort.Strings(stages)
		for _, st := range stages {
			d.Rejects = append(d.Rejects, kv{st, num(s.RejectsByStage[st])})
		}
	}
	if d.Histogram, err = pngURL(func(w io.Writer) error { return plots.Histograms(w, s) }); err != nil {
		return err
	}
	d.Images++

	var docs []outputs.Document
	if s.Run.Model.Config == nil {
		examples = 0 // no entropies to draw (--model none)
	}
	err = r.Documents(ctx, outputs.DocColumns{Entropies: true, Prominence: true}, func(doc outputs.Document) error {
		if len(docs) >= examples {
			return outputs.ErrStop
		}
		if doc.NumBytes > 0 {
			docs = append(docs, doc)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p := s.Run.Patcher
	for _, doc := range docs {
		text, err := documentText(ctx, r, doc)
		if err != nil {
			return err
		}
		o := plots.DocOptions{MaxBytes: maxBytes, Threshold: p.Threshold, ShowThreshold: p.Mode == "entropy" && !p.Monotonic}
		url, err := pngURL(func(w io.Writer) error { return plots.Document(w, doc, text, o) })
		if err != nil {
			return err
		}
		d.Examples = append(d.Examples, reportExample{
			ID:      doc.ID,
			Summary: fmt.Sprintf("%s, %s bytes, %d patches (mean %.2f tokens)", doc.Modality, num(doc.NumBytes), len(doc.PatchLengths), float64(doc.NumTokens)/float64(max(1, len(doc.PatchLengths)))),
			PNG:     url,
		})
		d.Images++
	}
	if sp := r.Sphere; sp != nil && len(sp.Table) > 0 {
		if d.Occupancy, err = pngURL(func(w io.Writer) error { return plots.Occupancy(w, sp) }); err != nil {
			return err
		}
		d.Images++
		d.Shells = []kv{
			{"method", sp.Method},
			{"weight", sp.Weight},
			{"patches placed", num(sp.Patches)},
			{"shells", fmt.Sprint(sp.Shells)},
			{"radii", fmt.Sprintf("%.4g … %.4g", sp.MinRadius, sp.OuterRadius)},
			{"capacity exponent α", fmt.Sprintf("%g", sp.CapacityExponent)},
			{"max |count − capacity|", fmt.Sprintf("%.0f", sp.MaxCountError)},
		}
		if r.Stats != nil && r.Stats.Allocation.Patches > 0 {
			d.Shells = append(d.Shells, kv{"patches in _STATS.json allocation", num(r.Stats.Allocation.Patches)})
		}
	}
	return reportTemplate.Execute(w, d)
}

// The page's inline script sets #status[data-loaded] to "yes" on the load
// event when every image decoded (and "error: …" otherwise); the
// headless-browser test reads it back.
var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { padding: .2em .8em; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
td:first-child { color: #555; white-space: nowrap; }
code { font-family: ui-monospace, monospace; }
figure { margin: 1em 0; overflow-x: auto; }
img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; }
#status { color: #888; font-size: .85em; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p id="status" data-loaded="no" data-images="{{.Images}}">loading…</p>
<h2>Summary</h2>
<table>{{range .Summary}}<tr><td>{{.K}}</td><td>{{.V}}</td></tr>{{end}}</table>
<h2>Run</h2>
<table>{{range .Run}}<tr><td>{{.K}}</td><td><code>{{.V}}</code></td></tr>{{end}}</table>
<h2>Rejects</h2>
{{if .Rejects}}<table><tr><th>stage</th><th>rejected</th></tr>{{range .Rejects}}<tr><td>{{.K}}</td><td>{{.V}}</td></tr>{{end}}</table>{{else}}<p>No rejects/ table in this run.</p>{{end}}
<h2>Distributions</h2>
<figure><img alt="histograms" src="{{.Histogram}}"><figcaption>Token entropy (nats, red: threshold), token prominence, patch length (tokens).</figcaption></figure>
<h2>Example documents</h2>
{{range .Examples}}<figure><img alt="entropy of {{.ID}}" src="{{.PNG}}"><figcaption><code>{{.ID}}</code>: {{.Summary}}</figcaption></figure>
{{else}}<p>No documents.</p>{{end}}
{{if .Occupancy}}<h2>Water-filling: shell occupancy</h2>
<table>{{range .Shells}}<tr><td>{{.K}}</td><td>{{.V}}</td></tr>{{end}}</table>
<figure><img alt="shell occupancy" src="{{.Occupancy}}"><figcaption>Patches per shell (points) against each shell's capacity (line).</figcaption></figure>
{{end}}
<script>
(function () {
  var status = document.getElementById("status");
  var imgs = Array.prototype.slice.call(document.images);
  var want = Number(status.dataset.images);
  function check() {
    var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
    if (imgs.length !== want) {
      status.dataset.loaded = "error: " + imgs.length + " images, want " + want;
    } else if (bad.length) {
      status.dataset.loaded = "error: " + bad.length + " images did not decode";
    } else {
      status.dataset.loaded = "yes";
    }
    status.textContent = "report loaded: " + imgs.length + " images";
  }
  // "load" fires once every image has loaded (or failed), before a
  // headless browser dumps the DOM.
  window.addEventListener("load", check);
})();
</script>
</body>
</html>
`))

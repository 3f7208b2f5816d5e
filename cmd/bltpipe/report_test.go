package main

import (
	"bytes"
	"encoding/base64"
	stdhtml "html"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bltpipe/bltpipe/pipelines/outputs/outputstest"
)

// html/template writes "+" as "&#43;" in attributes; browsers (and
// html.UnescapeString) read it back.
var imgSrc = regexp.MustCompile(`src="data:image/png;base64,([A-Za-z0-9+/=&#;]+)"`)

func TestReport(t *testing.T) {
	c := outputstest.Run(t)
	html := filepath.Join(t.TempDir(), "report.html")
	code, stdout, stderr := runCLI(t, "report", c.Out, "--out", html, "--examples", "3")
	if code != 0 {
		t.Fatalf("report: exit %d\n%s%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	// Self-contained: no external resources.
	for _, bad := range []string{"http://", "https://", `src="/`, "<link"} {
		if strings.Contains(page, bad) {
			t.Errorf("report refers to an external resource (%q)", bad)
		}
	}
	imgs := imgSrc.FindAllStringSubmatch(page, -1)
	want := 1 + 3 // histograms + examples
	if strings.Contains(page, "shell occupancy") {
		want++
	}
	if len(imgs) != want {
		t.Fatalf("%d inline images, want %d", len(imgs), want)
	}
	for i, m := range imgs {
		raw, err := base64.StdEncoding.DecodeString(stdhtml.UnescapeString(m[1]))
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil || img.Bounds().Dx() < 500 {
			t.Errorf("image %d: %v, %v", i, err, img.Bounds())
		}
	}
	for _, want := range []string{"doc-0", "doc-2", "Example documents", "threshold 5.5542 nats", `data-images="` + string(rune('0'+want)) + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(page, "doc-3") {
		t.Error("report shows more than --examples 3 documents")
	}
	t.Run("chromium", func(t *testing.T) { checkInChromium(t, html) })
}

// checkInChromium opens the page in headless Chromium: the DOM after
// scripts ran must carry the page's own "loaded" marker (every image
// decoded), the console must show no errors, and the screenshot must be a
// picture of the page.
func checkInChromium(t *testing.T, html string) {
	chromium := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not found in CI: run make test-tools (apt-get install chromium)")
		}
		t.Skip("chromium not installed (make test-tools installs it)")
	}
	tmp := t.TempDir()
	shot := filepath.Join(tmp, "shot.png")
	common := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"}
	run := func(args ...string) (string, string) {
		args = append(append(append([]string{}, common...), "--user-data-dir="+filepath.Join(tmp, "profile")), args...)
		cmd := exec.Command(chromium, append(args, "file://"+html)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
			}
		case <-time.After(90 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("chromium timed out\n%s", stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	dom, logs := run("--dump-dom")
	if !strings.Contains(dom, `data-loaded="yes"`) {
		m := regexp.MustCompile(`data-loaded="[^"]*"`).FindString(dom)
		t.Errorf("page did not report loaded: %s\n%s", m, logs)
	}
	for _, bad := range []string{"Uncaught", "ERROR:CONSOLE", "Failed to load resource"} {
		if strings.Contains(logs, bad) {
			t.Errorf("console shows %q:\n%s", bad, logs)
		}
	}
	_, logs = run("--screenshot="+shot, "--window-size=1280,2000", "--hide-scrollbars")
	if _, err := os.Stat(shot); err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, logs)
	}
	r := checkPNG(t, shot, 1280, 2000)
	t.Logf("screenshot %dx%d", r.Dx(), r.Dy())
}

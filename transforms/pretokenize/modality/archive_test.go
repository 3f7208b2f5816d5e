package modality

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io/fs"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

type entry struct {
	name, body string
	mode       fs.FileMode
	typ        byte // tar type flag (0: regular)
	link       string
}

func makeZip(t testing.TB, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func makeTar(t testing.TB, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg, Linkname: e.link, Format: tar.FormatPAX}
		if e.typ != 0 {
			h.Typeflag, h.Size = e.typ, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func memberKinds(s *Source) []string {
	var out []string
	for _, m := range s.Members {
		if m.Source != nil {
			out = append(out, m.Path+"="+m.Source.Kind)
		} else {
			out = append(out, m.Path+"!")
		}
	}
	return out
}

func TestArchives(t *testing.T) {
	png := encode(t, "png", testImage(20, 20))
	files := []entry{
		{name: "docs/readme.txt", body: "hello\n\nworld\n"},
		{name: "src/main.go", body: "package main\n\nfunc main() {}\n"},
		{name: "img/a.png", body: string(png)},
		{name: "dir/"},
	}
	tarball := makeTar(t, files[:3]...)
	var xzBuf, zstBuf bytes.Buffer
	xw, _ := xz.NewWriter(&xzBuf)
	xw.Write(tarball)
	xw.Close()
	zw, _ := zstd.NewWriter(&zstBuf)
	zw.Write(tarball)
	zw.Close()
	want := "docs/readme.txt=text src/main.go=go img/a.png=png"
	for _, tc := range []struct {
		name string
		data []byte
		kind string
	}{
		{"a.zip", makeZip(t, files...), "zip"},
		{"a.tar", tarball, "tar"},
		{"a.tar.gz", gz(t, tarball), "gzip"},
		{"a.tar.xz", xzBuf.Bytes(), "xz"},
		{"a.tar.zst", zstBuf.Bytes(), "zstd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := mustExtract(t, tc.name, tc.data, Options{})
			if src.Kind != tc.kind {
				t.Fatalf("kind %s", src.Kind)
			}
			if tc.kind != "zip" && tc.kind != "tar" { // one stream holding the tar
				if len(src.Members) != 1 || src.Members[0].Path != "a.tar" {
					t.Fatalf("members %v", memberKinds(src))
				}
				src = src.Members[0].Source
			}
			if got := strings.Join(memberKinds(src), " "); got != want {
				t.Errorf("members %s, want %s", got, want)
			}
			flat := src.Flatten()
			if len(flat) != 3 || flat[0].Path != "docs/readme.txt" || string(flat[0].View.Data) != files[0].body {
				t.Errorf("flatten: %d views", len(flat))
			}
		})
	}
	bz := mustExtract(t, "hello.txt.bz2", fixture(t, "hello.txt.bz2"), Options{})
	if len(bz.Members) != 1 || bz.Members[0].Path != "hello.txt" || string(bz.Members[0].Source.Views[0].Data) != "hello bzip2\n" {
		t.Errorf("bzip2 members %v", memberKinds(bz))
	}
}

func TestArchiveRejectsMembers(t *testing.T) {
	z := makeZip(t,
		entry{name: "ok.txt", body: "fine"},
		entry{name: "../evil.txt", body: "x"},
		entry{name: "/etc/passwd", body: "x"},
		entry{name: "a/../../b.txt", body: "x"},
		entry{name: "link", body: "target", mode: fs.ModeSymlink | 0o777},
		entry{name: "dev", mode: fs.ModeDevice | 0o600},
		entry{name: "also-ok.txt", body: "fine too"},
	)
	src := mustExtract(t, "x.zip", z, Options{})
	got := strings.Join(memberKinds(src), " ")
	if got != "ok.txt=text ../evil.txt! /etc/passwd! a/../../b.txt! link! dev! also-ok.txt=text" {
		t.Errorf("zip members: %s", got)
	}
	rs := strings.Join(src.Rejects(), "\n")
	for _, want := range []string{"escapes", "absolute", "symbolic link", "device"} {
		if !strings.Contains(rs, want) {
			t.Errorf("rejects lack %q:\n%s", want, rs)
		}
	}
	tb := makeTar(t,
		entry{name: "ok.txt", body: "fine"},
		entry{name: "../up.txt", body: "x"},
		entry{name: "sym", typ: tar.TypeSymlink, link: "/etc/passwd"},
		entry{name: "hard", typ: tar.TypeLink, link: "ok.txt"},
		entry{name: "chr", typ: tar.TypeChar},
		entry{name: "fifo", typ: tar.TypeFifo},
		entry{name: "d/", typ: tar.TypeDir},
	)
	src = mustExtract(t, "x.tar", tb, Options{})
	if got := strings.Join(memberKinds(src), " "); got != "ok.txt=text ../up.txt! sym! hard! chr! fifo!" {
		t.Errorf("tar members: %s", got)
	}
}

func TestArchiveLimits(t *testing.T) {
	zeros := make([]byte, 1<<20)
	// Ratio: 1 MiB of zeros deflates ~1000×.
	src := mustExtract(t, "z.zip", makeZip(t, entry{name: "zeros.bin", body: string(zeros)}), Options{})
	if len(src.Members) != 1 || !strings.Contains(src.Members[0].Reject, "MaxRatio") {
		t.Errorf("zip bomb member: %+v", src.Members)
	}
	if err := mustReject(t, "z.gz", gz(t, zeros), Options{}); !strings.Contains(err.Error(), "MaxRatio") {
		t.Errorf("gzip bomb: %v", err)
	}
	// Total expanded bytes.
	text := strings.Repeat("abcdefghij", 100)
	z := makeZip(t, entry{name: "a.txt", body: text}, entry{name: "b.txt", body: text})
	src = mustExtract(t, "t.zip", z, Options{Limits: Limits{MaxExpandedBytes: 1500}})
	if got := strings.Join(memberKinds(src), " "); got != "a.txt=text b.txt!" {
		t.Errorf("expanded-bytes limit: %s", got)
	}
	// Member count.
	src = mustExtract(t, "t.zip", z, Options{Limits: Limits{MaxMembers: 1}})
	if got := strings.Join(memberKinds(src), " "); got != "a.txt=text b.txt!" || !strings.Contains(src.Members[1].Reject, "MaxMembers") {
		t.Errorf("member limit: %s", got)
	}
	// Depth: a zip in a zip in a zip.
	inner := makeZip(t, entry{name: "leaf.txt", body: "leaf"})
	mid := makeZip(t, entry{name: "inner.zip", body: string(inner)})
	outer := makeZip(t, entry{name: "mid.zip", body: string(mid)})
	src = mustExtract(t, "o.zip", outer, Options{Limits: Limits{MaxDepth: 2}})
	m := src.Members[0].Source
	if m == nil || m.Members[0].Source != nil || !strings.Contains(m.Members[0].Reject, "MaxDepth") {
		t.Errorf("depth limit: %+v", src.Members)
	}
	src = mustExtract(t, "o.zip", outer, Options{})
	if f := src.Flatten(); len(f) != 1 || f[0].Path != "mid.zip/inner.zip/leaf.txt" {
		t.Errorf("nested flatten: %+v", f)
	}
}

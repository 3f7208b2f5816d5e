package hfhub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/bltpipe/bltpipe/internal/hfhub/hubtest"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
)

// setup starts a stand-in Hub and points the environment (endpoint, cache,
// no token) at it; retries back off by a millisecond.
func setup(t *testing.T) (*hubtest.Hub, *Client) {
	t.Helper()
	h := hubtest.New(t)
	t.Setenv("HF_ENDPOINT", h.URL)
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("HF_HUB_CACHE", filepath.Join(t.TempDir(), "hub"))
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	t.Setenv("HF_TOKEN_PATH", "")
	old := backoffBase
	backoffBase = time.Millisecond
	t.Cleanup(func() { backoffBase = old })
	return h, FromEnv()
}

// parquetBytes is a FineWeb-like Parquet file with several row groups.
func parquetBytes(t *testing.T, seed uint64, rows int) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.parquet")
	if err := testcorpus.WriteParquet(p, testcorpus.Rows(seed, rows, 200), 4); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want URI
		out  string // String(); "" means in
	}{
		{"hf://datasets/HuggingFaceFW/fineweb-edu/sample/10BT/*.parquet", URI{Repo{Dataset, "HuggingFaceFW/fineweb-edu"}, "", "sample/10BT/*.parquet"}, ""},
		{"hf://datasets/org/name@v1.0/data/x.jsonl", URI{Repo{Dataset, "org/name"}, "v1.0", "data/x.jsonl"}, ""},
		{"hf://datasets/org/name@refs%2Fconvert%2Fparquet/default/train/*.parquet", URI{Repo{Dataset, "org/name"}, "refs/convert/parquet", "default/train/*.parquet"}, ""},
		{"hf://datasets/org/name@refs/convert/parquet/default/*.parquet", URI{Repo{Dataset, "org/name"}, "refs/convert/parquet", "default/*.parquet"}, "hf://datasets/org/name@refs%2Fconvert%2Fparquet/default/*.parquet"},
		{"hf://datasets/org/name@refs/pr/12", URI{Repo{Dataset, "org/name"}, "refs/pr/12", ""}, "hf://datasets/org/name@refs%2Fpr%2F12"},
		{"hf://facebook/blt-entropy", URI{Repo{Model, "facebook/blt-entropy"}, "", ""}, ""},
		{"hf://facebook/blt-entropy@0123456789abcdef0123456789abcdef01234567/config.json", URI{Repo{Model, "facebook/blt-entropy"}, "0123456789abcdef0123456789abcdef01234567", "config.json"}, ""},
		{"hf://spaces/org/demo/app.py", URI{Repo{Space, "org/demo"}, "", "app.py"}, ""},
	} {
		got, err := ParseURI(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.in, got, tc.want)
		}
		out := tc.out
		if out == "" {
			out = tc.in
		}
		if got.String() != out {
			t.Errorf("%s: String() = %s, want %s", tc.in, got.String(), out)
		}
	}
	for _, bad := range []string{
		"gs://b/x", "hf://", "hf://datasets/org", "hf://org", "hf://datasets/org/name/../x",
		"hf://datasets/org/name//x", "hf://datasets/org/name@/x", "hf://datasets/org/name@a%2F..%2Fb/x",
		"hf://datasets/o*/name/x", "hf://datasets/org/name/a\x01b",
	} {
		if u, err := ParseURI(bad); err == nil {
			t.Errorf("%q parsed as %+v; want an error", bad, u)
		}
	}
}

func TestGlobSemantics(t *testing.T) {
	paths := []string{"a.parquet", "sample/x.parquet", "sample/10BT/000.parquet", "sample/10BT/001.parquet", "sample/10BT/sub/002.parquet", "sample/10BT/readme.md"}
	for _, tc := range []struct {
		glob      string
		want      []string
		dir       string
		recursive bool
	}{
		{"sample/10BT/*.parquet", []string{"sample/10BT/000.parquet", "sample/10BT/001.parquet"}, "sample/10BT", false},
		{"sample/10BT/**.parquet", []string{"sample/10BT/000.parquet", "sample/10BT/001.parquet", "sample/10BT/sub/002.parquet"}, "sample/10BT", true},
		{"sample/**/*.parquet", []string{"sample/x.parquet", "sample/10BT/000.parquet", "sample/10BT/001.parquet", "sample/10BT/sub/002.parquet"}, "sample", true},
		{"*.parquet", []string{"a.parquet"}, "", false},
		{"sample/10BT/00?.parquet", []string{"sample/10BT/000.parquet", "sample/10BT/001.parquet"}, "sample/10BT", false},
		{"sample/10BT/00[!0].parquet", []string{"sample/10BT/001.parquet"}, "sample/10BT", false},
		{"sample/*/0*.parquet", []string{"sample/10BT/000.parquet", "sample/10BT/001.parquet"}, "sample", true},
		{"sample/10BT/readme.md", []string{"sample/10BT/readme.md"}, "sample/10BT", false},
	} {
		re, err := globRegexp(tc.glob)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range paths {
			if re.MatchString(p) {
				got = append(got, p)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s matched %v, want %v", tc.glob, got, tc.want)
		}
		dir, rec := globDir(tc.glob)
		if dir != tc.dir || rec != tc.recursive {
			t.Errorf("%s: globDir = %q, %v; want %q, %v", tc.glob, dir, rec, tc.dir, tc.recursive)
		}
	}
	if _, err := globRegexp("a[bc"); err == nil {
		t.Error("unclosed [ accepted")
	}
}

// A glob lists the directory before its first meta character, follows the
// listing's pagination and returns paths pinned to the branch's commit.
func TestGlobListsPaginatedTree(t *testing.T) {
	h, c := setup(t)
	ctx := context.Background()
	files := map[string][]byte{"README.md": []byte("# card\n")}
	for i := range 5 {
		files[fmt.Sprintf("sample/10BT/%03d.parquet", i)] = []byte(fmt.Sprintf("not really parquet %d", i))
	}
	files["sample/10BT/deeper/x.parquet"] = []byte("x")
	files["data/train.jsonl"] = []byte("{\"text\":\"a\"}\n")
	commit := h.Put("dataset", "org/corpus", "main", files)

	got, err := c.Glob(ctx, "hf://datasets/org/corpus/sample/10BT/*.parquet")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprintf("hf://datasets/org/corpus@%s/sample/10BT/%03d.parquet", commit, i))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("glob:\n got %v\nwant %v", got, want)
	}
	if pages := h.Count(func(r hubtest.Request) bool { return strings.Contains(r.Path, "/tree/") }); pages < 3 {
		t.Errorf("listing of 6 entries at 2 per page took %d requests; pagination not followed", pages)
	}
	if n := h.Count(func(r hubtest.Request) bool {
		return strings.Contains(r.Path, "/tree/") && strings.Contains(r.Query, "recursive=true")
	}); n != 0 {
		t.Errorf("a one-level glob listed recursively %d times", n)
	}
	got, err = c.Glob(ctx, "hf://datasets/org/corpus/**/*.parquet")
	if err != nil || len(got) != 6 {
		t.Errorf("**/*.parquet: %v, %v; want 6 files", got, err)
	}
	// The pinned paths glob to themselves; an exact path works too.
	again, err := c.Glob(ctx, want[2])
	if err != nil || !reflect.DeepEqual(again, want[2:3]) {
		t.Errorf("pinned path: %v, %v", again, err)
	}
	// A directory is every file below it, hidden ones left out.
	files[".hidden/x.parquet"] = []byte("h")
	files["sample/.cache/y.parquet"] = []byte("h")
	commit = h.Put("dataset", "org/corpus", "main", files)
	c = New(c.Config()) // a new process: main moved
	got, err = c.Glob(ctx, "hf://datasets/org/corpus/sample")
	if err != nil || len(got) != 6 {
		t.Errorf("directory: %v, %v; want the 6 files below sample/", got, err)
	}
	for _, p := range got {
		if strings.Contains(p, "/.") || !strings.Contains(p, "@"+commit+"/") {
			t.Errorf("directory expansion gave %s", p)
		}
	}
	if got, err := c.Glob(ctx, "hf://datasets/org/corpus/nowhere/*.parquet"); err != nil || got != nil {
		t.Errorf("missing directory: %v, %v; want no match and no error", got, err)
	}
	// A revision moved on: a new glob sees the new commit.
	files["sample/10BT/005.parquet"] = []byte("new")
	commit2 := h.Put("dataset", "org/corpus", "v2", files)
	got, err = c.Glob(ctx, "hf://datasets/org/corpus@v2/sample/10BT/*.parquet")
	if err != nil || len(got) != 6 || !strings.Contains(got[0], "@"+commit2+"/") {
		t.Errorf("@v2: %v, %v", got, err)
	}
	ref, err := os.ReadFile(filepath.Join(c.RepoDir(Repo{Dataset, "org/corpus"}), "refs", "v2"))
	if err != nil || string(ref) != commit2 {
		t.Errorf("refs/v2 = %q, %v; want %s", ref, err, commit2)
	}
	if _, err := c.Glob(ctx, "hf://datasets/org/corpus@nope/*.parquet"); err == nil || !strings.Contains(err.Error(), "RevisionNotFound") {
		t.Errorf("unknown revision: %v", err)
	}
	if _, err := c.Glob(ctx, "hf://datasets/org/other/*.parquet"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown repository: %v", err)
	}
}

// Downloads land in huggingface_hub's layout: blobs named by sha256 (LFS)
// or git blob id, snapshot symlinks relative to the blobs, refs/main.
func TestDownloadCacheLayout(t *testing.T) {
	h, c := setup(t)
	ctx := context.Background()
	pq := parquetBytes(t, 1, 20)
	card := []byte("# a dataset card\n")
	commit := h.Put("dataset", "org/corpus", "main", map[string][]byte{"sample/10BT/000.parquet": pq, "README.md": card})

	local, err := c.Local(ctx, "hf://datasets/org/corpus/sample/10BT/000.parquet")
	if err != nil {
		t.Fatal(err)
	}
	repoDir := filepath.Join(c.Config().CacheDir, "datasets--org--corpus")
	wantSnap := filepath.Join(repoDir, "snapshots", commit, "sample", "10BT", "000.parquet")
	if local != wantSnap {
		t.Errorf("local path %s, want %s", local, wantSnap)
	}
	target, err := os.Readlink(wantSnap)
	if err != nil || target != "../../../../blobs/"+sha(pq) {
		t.Errorf("snapshot link -> %q (%v), want ../../../../blobs/%s", target, err, sha(pq))
	}
	if b, err := os.ReadFile(local); err != nil || !bytes.Equal(b, pq) {
		t.Errorf("cached bytes differ (%v)", err)
	}
	if ref, err := os.ReadFile(filepath.Join(repoDir, "refs", "main")); err != nil || string(ref) != commit {
		t.Errorf("refs/main = %q (%v), want %s", ref, err, commit)
	}
	// A plain git file: blob named by its git blob id, link one level deep.
	cardLocal, err := c.Local(ctx, "hf://datasets/org/corpus/README.md")
	if err != nil {
		t.Fatal(err)
	}
	gitID := hubtestGitOID(card)
	if target, err := os.Readlink(cardLocal); err != nil || target != "../../blobs/"+gitID {
		t.Errorf("README link -> %q (%v), want ../../blobs/%s", target, err, gitID)
	}
	entries, _ := os.ReadDir(filepath.Join(repoDir, "blobs"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{gitID, sha(pq)}; !sameSet(names, want) {
		t.Errorf("blobs/ holds %v, want %v", names, want)
	}
	if n := h.Count(func(r hubtest.Request) bool { return r.Server == "cdn" && r.Auth }); n != 0 {
		t.Errorf("%d CDN requests carried an Authorization header", n)
	}
	// Cached: no more transfers, even from a fresh client (a new process).
	before := h.Downloads("000.parquet")
	fresh := New(c.Config())
	if _, err := fresh.Local(ctx, "hf://datasets/org/corpus/sample/10BT/000.parquet"); err != nil {
		t.Fatal(err)
	}
	if h.Downloads("000.parquet") != before {
		t.Error("a cached file was downloaded again")
	}
	// A blob another tool put in the cache is used: a new commit with the
	// same file only gets a snapshot link.
	commit2 := h.Put("dataset", "org/corpus", "main", map[string][]byte{"moved/000.parquet": pq})
	p, err := fresh.Local(ctx, "hf://datasets/org/corpus@"+commit2+"/moved/000.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if h.Downloads("000.parquet") != before {
		t.Error("a blob already in the cache was downloaded again")
	}
	if target, _ := os.Readlink(p); target != "../../../blobs/"+sha(pq) {
		t.Errorf("second snapshot link -> %q", target)
	}
}

func hubtestGitOID(b []byte) string {
	s := newGitHash(int64(len(b)))
	s.Write(b)
	return hex.EncodeToString(s.Sum(nil))
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return len(a) == len(b)
}

// An interrupted transfer resumes with a Range request where it stopped,
// and a partial file left by an earlier process is resumed, not restarted.
func TestDownloadResumes(t *testing.T) {
	h, c := setup(t)
	ctx := context.Background()
	pq := parquetBytes(t, 2, 60)
	h.Put("dataset", "org/corpus", "main", map[string][]byte{"a.parquet": pq, "b.parquet": append(bytes.Clone(pq), 0)})

	cut := int64(len(pq) / 3)
	h.CutAfter("a.parquet", cut)
	p, err := c.Local(ctx, "hf://datasets/org/corpus/a.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, pq) {
		t.Fatal("resumed file differs")
	}
	var ranges []string
	for _, r := range h.Requests() {
		if r.Server == "cdn" && strings.HasSuffix(r.Path, "a.parquet") {
			ranges = append(ranges, r.Range)
		}
	}
	if want := []string{"", fmt.Sprintf("bytes=%d-", cut)}; !reflect.DeepEqual(ranges, want) {
		t.Errorf("CDN ranges %q, want %q", ranges, want)
	}

	// A partial download from an earlier process: half of b's bytes.
	b := append(bytes.Clone(pq), 0)
	_, commit, e, err := c.Stat(ctx, "hf://datasets/org/corpus/b.parquet")
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(c.RepoDir(Repo{Dataset, "org/corpus"}), "blobs", e.BlobName())
	half := len(b) / 2
	if err := os.WriteFile(blob+".incomplete", b[:half], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Download(ctx, Repo{Dataset, "org/corpus"}, commit, e); err != nil {
		t.Fatal(err)
	}
	ranges = nil
	for _, r := range h.Requests() {
		if r.Server == "cdn" && strings.HasSuffix(r.Path, "b.parquet") {
			ranges = append(ranges, r.Range)
		}
	}
	if want := []string{fmt.Sprintf("bytes=%d-", half)}; !reflect.DeepEqual(ranges, want) {
		t.Errorf("resume of a partial blob: CDN ranges %q, want %q", ranges, want)
	}
	if got, _ := os.ReadFile(blob); !bytes.Equal(got, b) {
		t.Error("resumed blob differs")
	}
	if _, err := os.Stat(blob + ".incomplete"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf(".incomplete left behind: %v", err)
	}
}

// A partial file whose bytes are wrong is thrown away and fetched again
// once; a fresh download that does not match its hash is refused.
func TestDownloadRejectsMismatch(t *testing.T) {
	h, c := setup(t)
	ctx := context.Background()
	pq := parquetBytes(t, 3, 20)
	readme := []byte("plain git file\n")
	h.Put("dataset", "org/corpus", "main", map[string][]byte{"a.parquet": pq, "README.md": readme, "ok.parquet": pq[:len(pq)-1]})
	h.Corrupt("a.parquet")
	h.Corrupt("README.md")

	_, err := c.Local(ctx, "hf://datasets/org/corpus/a.parquet")
	if err == nil || !strings.Contains(err.Error(), "sha256 mismatch") || !strings.Contains(err.Error(), "deleted") || !strings.Contains(err.Error(), "a.parquet") {
		t.Errorf("corrupt LFS file: %v", err)
	}
	_, err = c.Local(ctx, "hf://datasets/org/corpus/README.md")
	if err == nil || !strings.Contains(err.Error(), "git blob id mismatch") {
		t.Errorf("corrupt git file: %v", err)
	}
	repoDir := c.RepoDir(Repo{Dataset, "org/corpus"})
	blobs, _ := os.ReadDir(filepath.Join(repoDir, "blobs"))
	if len(blobs) != 0 {
		t.Errorf("blobs left after mismatches: %v", blobs)
	}
	if _, err := os.Stat(filepath.Join(repoDir, "snapshots")); err == nil {
		if ents, _ := os.ReadDir(filepath.Join(repoDir, "snapshots")); len(ents) > 0 {
			sub, _ := os.ReadDir(filepath.Join(repoDir, "snapshots", ents[0].Name()))
			if len(sub) > 0 {
				t.Errorf("snapshot entries after mismatches: %v", sub)
			}
		}
	}
	// Garbage left as .incomplete is replaced by a good download.
	_, commit, e, err := c.Stat(ctx, "hf://datasets/org/corpus/ok.parquet")
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(repoDir, "blobs", e.BlobName())
	os.MkdirAll(filepath.Dir(blob), 0o755)
	if err := os.WriteFile(blob+".incomplete", bytes.Repeat([]byte{'z'}, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Download(ctx, Repo{Dataset, "org/corpus"}, commit, e); err != nil {
		t.Fatalf("bad partial file was not replaced: %v", err)
	}
	if got, _ := os.ReadFile(blob); !bytes.Equal(got, pq[:len(pq)-1]) {
		t.Error("blob differs after restart")
	}
}

// Without a token a private repository is a clear error naming HF_TOKEN; a
// wrong token says where it came from; the right one works and never
// reaches the CDN. The token never appears in errors.
func TestTokenAndAuthErrors(t *testing.T) {
	h, c := setup(t)
	ctx := context.Background()
	h.Token = "hf_secret_123"
	h.Put("dataset", "org/private", "main", map[string][]byte{"a.parquet": parquetBytes(t, 4, 8)})

	_, err := c.Glob(ctx, "hf://datasets/org/private/*.parquet")
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "HF_TOKEN") || !strings.Contains(err.Error(), "no token was sent") {
		t.Errorf("no token: %v", err)
	}
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "hf_wrong_456")
	_, err = FromEnv().Glob(ctx, "hf://datasets/org/private/*.parquet")
	if err == nil || !strings.Contains(err.Error(), "token from HUGGING_FACE_HUB_TOKEN was refused") || strings.Contains(err.Error(), "hf_wrong_456") {
		t.Errorf("wrong token: %v", err)
	}
	t.Setenv("HF_TOKEN", h.Token)
	c = FromEnv()
	files, err := c.Glob(ctx, "hf://datasets/org/private/*.parquet")
	if err != nil || len(files) != 1 {
		t.Fatalf("with token: %v, %v", files, err)
	}
	if _, err := c.Local(ctx, files[0]); err != nil {
		t.Fatal(err)
	}
	if n := h.Count(func(r hubtest.Request) bool { return r.Server == "cdn" }); n == 0 {
		t.Fatal("no CDN transfer")
	}
	if n := h.Count(func(r hubtest.Request) bool { return r.Server == "cdn" && r.Auth }); n != 0 {
		t.Errorf("the token was sent to the CDN %d times", n)
	}
	// The token file huggingface-cli login writes is used too.
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(h.Token+"\n"), 0o600)
	t.Setenv("HF_TOKEN_PATH", tokenFile)
	if cfg := ConfigFromEnv(); cfg.Token != h.Token || cfg.TokenSource != tokenFile {
		t.Errorf("token file: got source %q", cfg.TokenSource)
	}
}

// 429 and 5xx answers are retried.
func TestRetriesTransientErrors(t *testing.T) {
	h, c := setup(t)
	pq := parquetBytes(t, 5, 8)
	h.Put("dataset", "org/corpus", "main", map[string][]byte{"a.parquet": pq})
	h.Fail("a.parquet", http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusBadGateway)
	p, err := c.Local(context.Background(), "hf://datasets/org/corpus/a.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, pq) {
		t.Error("bytes differ")
	}
	if n := h.Count(func(r hubtest.Request) bool { return r.Server == "cdn" }); n != 4 {
		t.Errorf("%d CDN requests, want 4 (3 failures, 1 success)", n)
	}
	h.Fail("a.parquet", http.StatusForbidden)
	h.Put("dataset", "org/corpus", "main", map[string][]byte{"a.parquet": append(pq, 1)})
	_, err = New(c.Config()).Local(context.Background(), "hf://datasets/org/corpus/a.parquet")
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("403 from the CDN: %v", err)
	}
}

// Reading a large Parquet file's footer moves only ranged requests and
// writes nothing to the cache; reading its rows downloads it once.
func TestReaderAtFooterThenDownload(t *testing.T) {
	h, c := setup(t)
	ctx := context.Background()
	pq := parquetBytes(t, 6, 80)
	h.Put("dataset", "org/corpus", "main", map[string][]byte{"big.parquet": pq})
	// "Large" is anything over 1 KiB here, and the ranged budget is the
	// footer (its length is in the last 8 bytes) and a little more.
	footer := int64(binary.LittleEndian.Uint32(pq[len(pq)-8:])) + 8
	oldSmall, oldBudget := smallFile, rangeBudget
	smallFile, rangeBudget = 1024, footer+64
	t.Cleanup(func() { smallFile, rangeBudget = oldSmall, oldBudget })

	f, err := c.OpenReaderAt(ctx, "hf://datasets/org/corpus/big.parquet")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := file.NewParquetReader(io.NewSectionReader(f, 0, f.Size()))
	if err != nil {
		t.Fatal(err)
	}
	groups := pr.NumRowGroups()
	pr.Close()
	if groups != 20 {
		t.Errorf("%d row groups, want 20", groups)
	}
	blobs := filepath.Join(c.RepoDir(Repo{Dataset, "org/corpus"}), "blobs")
	if ents, _ := os.ReadDir(blobs); len(ents) != 0 {
		t.Errorf("reading the footer wrote %v to the cache", ents)
	}
	for _, r := range h.Requests() {
		if r.Server == "cdn" && !strings.HasPrefix(r.Range, "bytes=") {
			t.Errorf("footer read made an unranged transfer %+v", r)
		}
	}
	f.Close()

	f, err = c.OpenReaderAt(ctx, "hf://datasets/org/corpus/big.parquet")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, err = file.NewParquetReader(io.NewSectionReader(f, 0, f.Size()))
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 64}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tbl.NumRows() != 80 {
		t.Errorf("%d rows, want 80", tbl.NumRows())
	}
	tbl.Release()
	if got, err := os.ReadFile(filepath.Join(blobs, sha(pq))); err != nil || !bytes.Equal(got, pq) {
		t.Errorf("reading rows did not cache the file: %v", err)
	}
	if n := h.Count(func(r hubtest.Request) bool { return r.Server == "cdn" && r.Range == "" }); n != 1 {
		t.Errorf("%d whole-file transfers, want 1", n)
	}
}

// Clients of several "processes" downloading one file at once transfer it
// once and all get it.
func TestConcurrentDownloadsShareOneTransfer(t *testing.T) {
	h, c := setup(t)
	pq := parquetBytes(t, 7, 40)
	h.Put("dataset", "org/corpus", "main", map[string][]byte{"a.parquet": pq})
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := New(c.Config()).Local(context.Background(), "hf://datasets/org/corpus/a.parquet")
			if err == nil {
				if b, rerr := os.ReadFile(p); rerr != nil || !bytes.Equal(b, pq) {
					err = fmt.Errorf("bytes differ (%v)", rerr)
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := h.Downloads("a.parquet"); n != 1 {
		t.Errorf("%d transfers, want 1", n)
	}

	// Another process holding the blob's lock file: Download waits for it,
	// then finds the blob that process left and transfers nothing.
	b := append(bytes.Clone(pq), 7)
	h.Put("dataset", "org/corpus", "main", map[string][]byte{"b.parquet": b})
	c = New(c.Config())
	repo := Repo{Dataset, "org/corpus"}
	_, commit, e, err := c.Stat(context.Background(), "hf://datasets/org/corpus/b.parquet")
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := lockFile(filepath.Join(c.Config().CacheDir, ".locks", "datasets--org--corpus", e.BlobName()+".lock"))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := c.Download(context.Background(), repo, commit, e)
		got <- err
	}()
	select {
	case err := <-got:
		unlock()
		t.Fatalf("Download did not wait for the other process's lock (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := os.WriteFile(filepath.Join(c.RepoDir(repo), "blobs", e.BlobName()), b, 0o644); err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if n := h.Downloads("b.parquet"); n != 0 {
		t.Errorf("%d transfers of a blob another process finished", n)
	}
}

// hf:// is a Beam filesystem: List, Size and OpenRead work, writes do not.
func TestBeamFilesystem(t *testing.T) {
	h, _ := setup(t)
	ctx := context.Background()
	pq := parquetBytes(t, 8, 8)
	commit := h.Put("dataset", "org/corpus", "main", map[string][]byte{"d/a.parquet": pq, "d/b.jsonl": []byte("{}\n")})
	fsys, err := filesystem.New(ctx, "hf://datasets/org/corpus/d/*")
	if err != nil {
		t.Fatal(err)
	}
	files, err := fsys.List(ctx, "hf://datasets/org/corpus/d/*")
	want := []string{"hf://datasets/org/corpus@" + commit + "/d/a.parquet", "hf://datasets/org/corpus@" + commit + "/d/b.jsonl"}
	if err != nil || !reflect.DeepEqual(files, want) {
		t.Fatalf("List: %v, %v", files, err)
	}
	if n, err := fsys.Size(ctx, files[0]); err != nil || n != int64(len(pq)) {
		t.Errorf("Size: %d, %v", n, err)
	}
	if n := h.Downloads("a.parquet"); n != 0 {
		t.Errorf("Size downloaded the file (%d transfers)", n)
	}
	r, err := fsys.OpenRead(ctx, files[1])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "{}\n" {
		t.Errorf("OpenRead: %q", b)
	}
	if _, err := fsys.OpenWrite(ctx, "hf://datasets/org/corpus/d/c"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("OpenWrite: %v", err)
	}
	if _, err := fsys.Size(ctx, "hf://datasets/org/corpus/d/missing.parquet"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Size of a missing file: %v", err)
	}
}

package hfhub

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// The cache is huggingface_hub's layout, so downloads are shared with it:
//
//	<cache>/datasets--ORG--NAME/blobs/<sha256 or git blob id>   complete, verified contents
//	<cache>/datasets--ORG--NAME/blobs/<…>.incomplete             a download in progress (resumed with Range)
//	<cache>/datasets--ORG--NAME/snapshots/<commit>/<path>        relative symlink to ../../blobs/<…>
//	<cache>/datasets--ORG--NAME/refs/<revision>                  the commit the revision pointed at
//	<cache>/.locks/datasets--ORG--NAME/<…>.lock                  held while one process downloads a blob

// RepoDir is the repository's directory in the cache.
func (c *Client) RepoDir(repo Repo) string { return filepath.Join(c.cfg.CacheDir, repo.folder()) }

// SnapshotDir is the directory holding a commit's files in the cache.
func (c *Client) SnapshotDir(repo Repo, commit string) string {
	return filepath.Join(c.RepoDir(repo), "snapshots", commit)
}

func (c *Client) blobPath(repo Repo, e Entry) string {
	return filepath.Join(c.RepoDir(repo), "blobs", e.BlobName())
}

func (c *Client) snapshotPath(repo Repo, commit string, e Entry) string {
	return filepath.Join(c.SnapshotDir(repo, commit), filepath.FromSlash(e.Path))
}

// writeRef records refs/<rev> → commit (atomically; unchanged refs are not rewritten).
func (c *Client) writeRef(repo Repo, rev, commit string) error {
	p := filepath.Join(c.RepoDir(repo), "refs", filepath.FromSlash(rev))
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == commit {
		return nil
	}
	if err := writeAtomic(p, []byte(commit)); err != nil {
		return fmt.Errorf("hf cache: record %s@%s: %w", repo, rev, err)
	}
	return nil
}

// writeAtomic writes data under a unique temporary name and renames it to p.
func writeAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := tempName(p)
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func tempName(p string) string {
	var b [6]byte
	rand.Read(b[:])
	return filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp-"+hex.EncodeToString(b[:]))
}

// Cached returns the snapshot path of a file whose verified blob is in the
// cache (linking the snapshot to the blob if only the blob is there).
func (c *Client) Cached(repo Repo, commit string, e Entry) (string, bool) {
	snap := c.snapshotPath(repo, commit, e)
	if st, err := os.Stat(snap); err == nil && st.Mode().IsRegular() && st.Size() == e.ContentSize() {
		return snap, true
	}
	blob := c.blobPath(repo, e)
	if st, err := os.Stat(blob); err == nil && st.Mode().IsRegular() && st.Size() == e.ContentSize() {
		if linkSnapshot(blob, snap) == nil {
			return snap, true
		}
	}
	return "", false
}

// Download makes sure a file of a commit is in the cache and returns its
// snapshot path. Only one process downloads a blob at a time (a lock file);
// a partial download left by anyone is resumed with a Range request, and an
// interrupted transfer is retried from where it stopped. The complete file
// must have the listed size and hash (sha256 for LFS files, the git blob id
// otherwise); if not, it is deleted and Download fails.
func (c *Client) Download(ctx context.Context, repo Repo, commit string, e Entry) (string, error) {
	if !e.IsFile() {
		return "", fmt.Errorf("hf: %s is not a file", e.Path)
	}
	if err := checkEntry(e); err != nil {
		return "", err
	}
	if p, ok := c.Cached(repo, commit, e); ok {
		return p, nil
	}
	lock := filepath.Join(c.cfg.CacheDir, ".locks", repo.folder(), e.BlobName()+".lock")
	// Goroutines of this process queue here, so only one per blob waits
	// on the file lock (a blocked flock holds an OS thread).
	inproc := processLock(lock)
	inproc.Lock()
	defer inproc.Unlock()
	unlock, err := lockFile(lock)
	if err != nil {
		return "", fmt.Errorf("hf cache: lock %s: %w", lock, err)
	}
	defer unlock()
	if p, ok := c.Cached(repo, commit, e); ok { // another process finished it
		return p, nil
	}
	blob := c.blobPath(repo, e)
	name := URI{Repo: repo, Rev: commit, Path: e.Path}.String()
	if err := c.fetchBlob(ctx, repo, commit, e, blob, name); err != nil {
		return "", err
	}
	snap := c.snapshotPath(repo, commit, e)
	if err := linkSnapshot(blob, snap); err != nil {
		return "", fmt.Errorf("hf cache: %w", err)
	}
	return snap, nil
}

var (
	procLocksMu sync.Mutex
	procLocks   = map[string]*sync.Mutex{}
)

func processLock(p string) *sync.Mutex {
	procLocksMu.Lock()
	defer procLocksMu.Unlock()
	m := procLocks[p]
	if m == nil {
		m = &sync.Mutex{}
		procLocks[p] = m
	}
	return m
}

// fetchBlob downloads into blob+".incomplete", verifies and renames it.
func (c *Client) fetchBlob(ctx context.Context, repo Repo, commit string, e Entry, blob, name string) error {
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return fmt.Errorf("hf cache: %w", err)
	}
	inc := blob + ".incomplete"
	want := e.ContentSize()
	src := c.ResolveURL(repo, commit, e.Path)
	resumed := false   // bytes of an earlier attempt were kept
	restarted := false // a bad resumed file was thrown away once
	failures := 0
	for {
		f, err := os.OpenFile(inc, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("hf cache: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("hf cache: %w", err)
		}
		off := st.Size()
		if off > want {
			if err := f.Truncate(0); err != nil {
				f.Close()
				return fmt.Errorf("hf cache: %w", err)
			}
			off = 0
		}
		if off > 0 {
			resumed = true
		}
		var got int64
		if off < want {
			got, err = c.fetchInto(ctx, f, src, off, want, name)
		}
		if serr := f.Sync(); err == nil {
			err = serr
		}
		f.Close()
		if err != nil {
			var fatal *fatalError
			if errors.As(err, &fatal) || ctx.Err() != nil {
				return err
			}
			// A transfer that made progress is resumed at once; one that
			// did not counts as a failure and backs off.
			if got == 0 {
				failures++
				if failures >= maxAttempts {
					return fmt.Errorf("download %s: %w", name, err)
				}
				if err := sleep(ctx, min(backoffBase<<(failures-1), backoffMax)); err != nil {
					return err
				}
			}
			resumed = true
			continue
		}
		verr := verify(inc, e)
		if verr == nil {
			if err := os.Rename(inc, blob); err != nil {
				return fmt.Errorf("hf cache: %w", err)
			}
			return nil
		}
		os.Remove(inc)
		if resumed && !restarted {
			// The kept bytes may be what is wrong; start over once.
			restarted, resumed = true, false
			continue
		}
		return fmt.Errorf("download %s: %w; the download was deleted", name, verr)
	}
}

// fatalError is a download failure that retrying cannot fix.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// fetchInto appends bytes [off, want) of src to f (positioned anywhere;
// writes go to off onward) and returns how many it wrote.
func (c *Client) fetchInto(ctx context.Context, f *os.File, src string, off, want int64, name string) (int64, error) {
	hdr := http.Header{}
	if off > 0 {
		hdr.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	resp, err := c.get(ctx, src, hdr)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		if off > 0 { // the server ignored Range: start over
			if err := f.Truncate(0); err != nil {
				return 0, &fatalError{err}
			}
			off = 0
		}
	case http.StatusPartialContent:
		start, err := contentRangeStart(resp.Header.Get("Content-Range"))
		if err != nil || start != off {
			return 0, &fatalError{fmt.Errorf("download %s: asked for bytes from %d, got Content-Range %q", name, off, resp.Header.Get("Content-Range"))}
		}
	case http.StatusRequestedRangeNotSatisfiable:
		// The kept bytes do not fit the remote file: start over.
		if err := f.Truncate(0); err != nil {
			return 0, &fatalError{err}
		}
		return 0, fmt.Errorf("download %s: the server has no bytes from %d on (the listing says %d bytes); starting over", name, off, want)
	default:
		return 0, &fatalError{c.statusError(resp, "download "+name)}
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, &fatalError{err}
	}
	// Never write past the listed size: a longer body is a mismatch.
	n, err := io.Copy(f, io.LimitReader(resp.Body, want-off+1))
	if err != nil {
		return n, fmt.Errorf("download %s: interrupted after %d bytes: %w", name, off+n, err)
	}
	if off+n < want {
		return n, fmt.Errorf("download %s: connection closed after %d of %d bytes", name, off+n, want)
	}
	return n, nil
}

func contentRangeStart(h string) (int64, error) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, fmt.Errorf("bad Content-Range %q", h)
	}
	s, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, fmt.Errorf("bad Content-Range %q", h)
	}
	return strconv.ParseInt(s, 10, 64)
}

// verify checks a downloaded file's size and hash against its listing.
func verify(p string, e Entry) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	var h hash.Hash
	want, algo := e.OID, "git blob id"
	if e.LFS != nil {
		h, want, algo = sha256.New(), e.LFS.OID, "sha256"
	} else {
		h = newGitHash(e.Size)
	}
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if n != e.ContentSize() {
		return fmt.Errorf("got %d bytes, the repository lists %d", n, e.ContentSize())
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s mismatch: got %s, the repository lists %s", algo, got, want)
	}
	return nil
}

// newGitHash starts git's object id of a blob of size bytes.
func newGitHash(size int64) hash.Hash {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", size)
	return h
}

// linkSnapshot points snap at blob with a relative symlink, as
// huggingface_hub does (replacing whatever is there atomically); where
// symlinks are not available the blob is copied.
func linkSnapshot(blob, snap string) error {
	if err := os.MkdirAll(filepath.Dir(snap), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(snap), blob)
	if err != nil {
		return err
	}
	if cur, err := os.Readlink(snap); err == nil && cur == rel {
		return nil
	}
	tmp := tempName(snap)
	if err := os.Symlink(rel, tmp); err != nil {
		if err := copyFile(blob, tmp); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	if err := os.Rename(tmp, snap); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Local downloads the file an hf:// path names (if it is not cached) and
// returns its path in the cache.
func (c *Client) Local(ctx context.Context, name string) (string, error) {
	u, commit, e, err := c.Stat(ctx, name)
	if err != nil {
		return "", err
	}
	return c.Download(ctx, u.Repo, commit, e)
}

// Reads through File below: files up to smallFile bytes are downloaded on
// first read; for larger ones the first few reads (at most rangeReads,
// each up to rangeReadMax, rangeBudget in all — a Parquet footer, say) are
// ranged requests, and the first read past that downloads the whole file
// into the cache.
var (
	smallFile    int64 = 8 << 20
	rangeReads         = 4
	rangeReadMax int64 = 1 << 20
	rangeBudget  int64 = 8 << 20
)

// File is an hf:// file opened for positioned reads (see OpenReaderAt).
type File struct {
	c      *Client
	ctx    context.Context
	name   string
	repo   Repo
	commit string
	e      Entry

	mu     chan struct{} // a one-slot semaphore guarding local, ranged and reads
	local  *os.File
	ranged int64 // bytes read with ranged requests
	reads  int   // ranged requests made
}

// OpenReaderAt opens an hf:// file for positioned reads. Opening costs a
// listing, not a download: small reads at first are served by ranged
// requests (so reading a Parquet footer to plan splits moves kilobytes),
// and reading on downloads the whole file into the cache and serves it
// from there.
func (c *Client) OpenReaderAt(ctx context.Context, name string) (*File, error) {
	u, commit, e, err := c.Stat(ctx, name)
	if err != nil {
		return nil, err
	}
	f := &File{c: c, ctx: ctx, name: name, repo: u.Repo, commit: commit, e: e, mu: make(chan struct{}, 1)}
	if p, ok := c.Cached(u.Repo, commit, e); ok {
		if f.local, err = os.Open(p); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Size is the file's size in bytes.
func (f *File) Size() int64 { return f.e.ContentSize() }

// ReadAt implements io.ReaderAt.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	size := f.Size()
	if off < 0 {
		return 0, fmt.Errorf("hf: %s: negative offset", f.name)
	}
	if off >= size {
		return 0, io.EOF
	}
	for {
		f.mu <- struct{}{}
		if local := f.local; local != nil {
			<-f.mu
			return local.ReadAt(p, off)
		}
		n := min(int64(len(p)), size-off)
		if size > smallFile && n <= rangeReadMax && f.ranged+n <= rangeBudget && f.reads < rangeReads {
			f.ranged += n
			f.reads++
			<-f.mu
			got, err := f.c.readRange(f.ctx, f.repo, f.commit, f.e, p[:n], off, f.name)
			if errors.Is(err, errRangeIgnored) { // no ranged reads here: download instead
				f.mu <- struct{}{}
				f.ranged = rangeBudget + 1
				<-f.mu
				continue
			}
			if err == nil && got < len(p) {
				err = io.EOF
			}
			return got, err
		}
		path, err := f.c.Download(f.ctx, f.repo, f.commit, f.e)
		var local *os.File
		if err == nil {
			local, err = os.Open(path)
		}
		if err != nil {
			<-f.mu
			return 0, err
		}
		f.local = local
		<-f.mu
		return local.ReadAt(p, off)
	}
}

// Close releases the cached file, if one was opened.
func (f *File) Close() error {
	f.mu <- struct{}{}
	defer func() { <-f.mu }()
	if f.local != nil {
		err := f.local.Close()
		f.local = nil
		return err
	}
	return nil
}

var errRangeIgnored = errors.New("the server ignored the Range header")

// readRange reads len(p) bytes at off with one ranged request (retried).
func (c *Client) readRange(ctx context.Context, repo Repo, commit string, e Entry, p []byte, off int64, name string) (int, error) {
	hdr := http.Header{}
	hdr.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1))
	src := c.ResolveURL(repo, commit, e.Path)
	var lastErr error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		resp, err := c.get(ctx, src, hdr)
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", name, err)
		}
		if resp.StatusCode != http.StatusPartialContent {
			if resp.StatusCode == http.StatusOK {
				resp.Body.Close()
				return 0, errRangeIgnored
			}
			return 0, c.statusError(resp, "read "+name)
		}
		start, cerr := contentRangeStart(resp.Header.Get("Content-Range"))
		if cerr != nil || start != off {
			resp.Body.Close()
			return 0, fmt.Errorf("read %s: asked for bytes from %d, got Content-Range %q", name, off, resp.Header.Get("Content-Range"))
		}
		n, err := io.ReadFull(resp.Body, p)
		resp.Body.Close()
		if err == nil {
			return n, nil
		}
		lastErr = err
		if err := sleep(ctx, min(backoffBase<<(attempt-1), backoffMax)); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("read %s at %d: %w", name, off, lastErr)
}

var _ io.ReaderAt = (*File)(nil)

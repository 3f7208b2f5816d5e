// Package fetch turns a --model value into a local model directory that
// modelio.LoadModel can read:
//
//   - a local directory is used as is;
//   - hf://ORG/NAME[@REV][/SUBDIR] (a Hugging Face model repository, e.g.
//     hf://facebook/blt-entropy) is downloaded into the Hugging Face cache
//     (internal/hfhub: shared with huggingface_hub, resumable, each file's
//     size and sha256 or git blob id checked) and the snapshot directory is
//     returned;
//   - gs://BUCKET/DIR is downloaded into $XDG_CACHE_HOME/bltpipe/models/
//     (a directory named by the URI and the objects' generations, so a
//     changed model is fetched again), each object's size, CRC32C and MD5
//     checked.
//
// Only the files a model needs travel: config.json, params.json,
// model.safetensors and other top-level files up to 1 MiB (no
// subdirectories, no checkpoints). A process downloads a model once
// however many DoFn instances ask; later processes reuse the cache.
package fetch

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"cloud.google.com/go/storage"
	"github.com/bltpipe/bltpipe/internal/hfhub"
	"github.com/bltpipe/bltpipe/modelio"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// IsRemote reports whether a --model value names a remote directory
// (gs:// or hf://) rather than a local one.
func IsRemote(model string) bool {
	return strings.HasPrefix(model, "gs://") || hfhub.IsURI(model)
}

// smallFile is the size up to which files other than the model's own are
// fetched along (a README, a tokenizer config).
const smallFile = 1 << 20

// wanted reports whether a model directory's top-level file is fetched.
func wanted(name string, size int64) bool {
	switch name {
	case modelio.ConfigFile, modelio.ParamsFile, modelio.WeightsFile:
		return true
	}
	return size <= smallFile && !strings.HasPrefix(name, ".")
}

// checkListing refuses a remote directory that cannot be a model.
func checkListing(uri string, names []string) error {
	has := map[string]bool{}
	for _, n := range names {
		has[n] = true
	}
	if !has[modelio.WeightsFile] {
		return fmt.Errorf("model %s: no %s there (found %d files); is this a BLT entropy model directory?", uri, modelio.WeightsFile, len(names))
	}
	if !has[modelio.ConfigFile] && !has[modelio.ParamsFile] {
		return fmt.Errorf("model %s: no %s or %s there; is this a BLT entropy model directory?", uri, modelio.ConfigFile, modelio.ParamsFile)
	}
	return nil
}

var (
	mu     sync.Mutex
	done   = map[string]string{}      // key → local directory
	active = map[string]*sync.Mutex{} // key → held while fetching
)

// Local returns a local directory holding the model uri names, fetching
// it on the first call for uri in this process (see the package comment).
// A failed fetch is not remembered: the next call tries again.
func Local(ctx context.Context, uri string) (string, error) {
	if !IsRemote(uri) {
		return uri, nil
	}
	key := uri + "\x00" + envKey(uri)
	mu.Lock()
	if d, ok := done[key]; ok {
		mu.Unlock()
		return d, nil
	}
	m := active[key]
	if m == nil {
		m = &sync.Mutex{}
		active[key] = m
	}
	mu.Unlock()

	m.Lock()
	defer m.Unlock()
	mu.Lock()
	d, ok := done[key]
	mu.Unlock()
	if ok {
		return d, nil
	}
	var err error
	if hfhub.IsURI(uri) {
		d, err = fetchHF(ctx, uri)
	} else {
		d, err = fetchGCS(ctx, uri)
	}
	if err != nil {
		return "", err
	}
	mu.Lock()
	done[key] = d
	mu.Unlock()
	return d, nil
}

// envKey is the part of the environment a fetch depends on (where it
// downloads from and to), so a changed environment fetches anew.
func envKey(uri string) string {
	if hfhub.IsURI(uri) {
		c := hfhub.ConfigFromEnv()
		return c.Endpoint + "\x00" + c.CacheDir
	}
	root, _ := cacheRoot()
	return os.Getenv("STORAGE_EMULATOR_HOST") + "\x00" + root
}

func fetchHF(ctx context.Context, uri string) (string, error) {
	u, err := hfhub.ParseURI(uri)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(u.Path, `*?[\`) {
		return "", fmt.Errorf("model %s: a model is a directory, not a glob", uri)
	}
	c := hfhub.FromEnv()
	commit, err := c.Commit(ctx, u.Repo, u.Rev)
	if err != nil {
		return "", fmt.Errorf("model %s: %w", uri, err)
	}
	entries, err := c.Tree(ctx, u.Repo, commit, u.Path, false)
	if err != nil {
		return "", fmt.Errorf("model %s: %w", uri, err)
	}
	var names []string
	var files []hfhub.Entry
	for _, e := range entries {
		if !e.IsFile() {
			continue
		}
		name := path.Base(e.Path)
		names = append(names, name)
		if wanted(name, e.ContentSize()) {
			files = append(files, e)
		}
	}
	if err := checkListing(uri, names); err != nil {
		return "", err
	}
	for _, e := range files {
		if _, err := c.Download(ctx, u.Repo, commit, e); err != nil {
			return "", fmt.Errorf("model %s: %w", uri, err)
		}
	}
	return filepath.Join(c.SnapshotDir(u.Repo, commit), filepath.FromSlash(u.Path)), nil
}

// cacheRoot is where gs:// models are kept: $XDG_CACHE_HOME/bltpipe/models
// (~/.cache/… when unset), else the temporary directory.
func cacheRoot() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "bltpipe", "models"), nil
}

var (
	gcsMu      sync.Mutex
	gcsClients = map[string]*storage.Client{} // by STORAGE_EMULATOR_HOST
)

// gcsClient is a process-wide client with application default
// credentials, or anonymous (public buckets) when there are none.
func gcsClient(ctx context.Context) (*storage.Client, error) {
	gcsMu.Lock()
	defer gcsMu.Unlock()
	k := os.Getenv("STORAGE_EMULATOR_HOST")
	if c := gcsClients[k]; c != nil {
		return c, nil
	}
	c, err := storage.NewClient(context.WithoutCancel(ctx))
	if err != nil {
		c, err = storage.NewClient(context.WithoutCancel(ctx), option.WithoutAuthentication())
		if err != nil {
			return nil, fmt.Errorf("gcs client: %w", err)
		}
	}
	gcsClients[k] = c
	return c, nil
}

// marker names the file written into a fetched gs:// model directory once
// every file in it was verified.
const marker = ".bltpipe-fetched"

func fetchGCS(ctx context.Context, uri string) (string, error) {
	rest := strings.TrimPrefix(uri, "gs://")
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" || strings.ContainsAny(prefix, "*?[") {
		return "", fmt.Errorf("model %s: want gs://BUCKET/DIR", uri)
	}
	if prefix = strings.TrimSuffix(prefix, "/"); prefix != "" {
		prefix += "/"
	}
	client, err := gcsClient(ctx)
	if err != nil {
		return "", err
	}
	it := client.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: prefix, Delimiter: "/"})
	var objs []*storage.ObjectAttrs
	var names []string
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("model %s: list: %w", uri, err)
		}
		name := strings.TrimPrefix(a.Name, prefix)
		if a.Prefix != "" || name == "" || strings.Contains(name, "/") || name == "." || name == ".." {
			continue
		}
		names = append(names, name)
		if wanted(name, a.Size) {
			objs = append(objs, a)
		}
	}
	if err := checkListing(uri, names); err != nil {
		return "", err
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Name < objs[j].Name })
	// The directory is named by what is fetched: a replaced object (new
	// generation) means a new directory, never a mix of old and new files.
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", uri)
	for _, a := range objs {
		fmt.Fprintf(h, "%s %d %d %d\n", a.Name, a.Generation, a.Size, a.CRC32C)
	}
	root, _ := cacheRoot()
	dir := filepath.Join(root, hex.EncodeToString(h.Sum(nil))[:24])
	if fetched(dir, objs, prefix) {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("model %s: %w", uri, err)
	}
	os.Remove(filepath.Join(dir, marker))
	for _, a := range objs {
		if err := fetchObject(ctx, client, a, filepath.Join(dir, strings.TrimPrefix(a.Name, prefix))); err != nil {
			return "", fmt.Errorf("model %s: %w", uri, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, marker), []byte(uri+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("model %s: %w", uri, err)
	}
	return dir, nil
}

// fetched reports whether dir holds a complete, verified earlier fetch.
func fetched(dir string, objs []*storage.ObjectAttrs, prefix string) bool {
	if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
		return false
	}
	for _, a := range objs {
		st, err := os.Stat(filepath.Join(dir, strings.TrimPrefix(a.Name, prefix)))
		if err != nil || st.Size() != a.Size {
			return false
		}
	}
	return true
}

// fetchObject downloads the listed generation of an object to dst through
// a unique temporary file, checking size, CRC32C and (when GCS has one) MD5
// before renaming it into place.
func fetchObject(ctx context.Context, client *storage.Client, a *storage.ObjectAttrs, dst string) error {
	r, err := client.Bucket(a.Bucket).Object(a.Name).Generation(a.Generation).NewReader(ctx)
	if err != nil {
		return fmt.Errorf("read gs://%s/%s: %w", a.Bucket, a.Name, err)
	}
	defer r.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	sum := md5.New()
	n, err := io.Copy(io.MultiWriter(tmp, crc, sum), r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("read gs://%s/%s: %w", a.Bucket, a.Name, err)
	}
	switch {
	case n != a.Size:
		return fmt.Errorf("gs://%s/%s: got %d bytes, the listing says %d; not used", a.Bucket, a.Name, n, a.Size)
	case crc.Sum32() != a.CRC32C:
		return fmt.Errorf("gs://%s/%s: CRC32C %08x, GCS lists %08x; not used", a.Bucket, a.Name, crc.Sum32(), a.CRC32C)
	case len(a.MD5) > 0 && hex.EncodeToString(sum.Sum(nil)) != hex.EncodeToString(a.MD5):
		return fmt.Errorf("gs://%s/%s: MD5 %x, GCS lists %x; not used", a.Bucket, a.Name, sum.Sum(nil), a.MD5)
	}
	return os.Rename(tmp.Name(), dst)
}

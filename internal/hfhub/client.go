// Package hfhub reads files from the Hugging Face Hub: it lists repository
// trees, resolves revisions to commits and downloads files into a cache laid
// out like huggingface_hub's (so Python tools and bltpipe share downloads),
// resuming interrupted downloads with ranged requests and verifying every
// file's size and hash before it is used.
//
// It also registers the hf:// scheme in Beam's filesystem registry:
// hf://datasets/ORG/NAME[@REV]/PATH_GLOB lists and reads dataset files,
// hf://ORG/NAME[@REV]/PATH model files. The filesystem is read-only.
//
// Configuration comes from the environment, with huggingface_hub's names:
// HF_ENDPOINT (default https://huggingface.co), HF_TOKEN or
// HUGGING_FACE_HUB_TOKEN (else the token file huggingface-cli login
// writes), and HF_HUB_CACHE / HF_HOME / XDG_CACHE_HOME for the cache. The
// token is sent to the endpoint only, never to the CDN it redirects to, and
// never logged.
package hfhub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultEndpoint is the Hub's address when HF_ENDPOINT is unset.
const DefaultEndpoint = "https://huggingface.co"

// Config is where a Client talks to and keeps files.
type Config struct {
	Endpoint    string // Hub address, no trailing '/'
	Token       string // access token; "" for anonymous access
	TokenSource string // where Token came from (an environment variable or file), for error messages
	CacheDir    string // the hub cache root (…/huggingface/hub)
}

// ConfigFromEnv reads the configuration huggingface_hub would use.
func ConfigFromEnv() Config {
	c := Config{Endpoint: strings.TrimRight(os.Getenv("HF_ENDPOINT"), "/")}
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	home := os.Getenv("HF_HOME")
	if home == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			if h, err := os.UserHomeDir(); err == nil {
				base = filepath.Join(h, ".cache")
			} else {
				base = os.TempDir()
			}
		}
		home = filepath.Join(base, "huggingface")
	}
	for _, v := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if d := os.Getenv(v); d != "" {
			c.CacheDir = d
			break
		}
	}
	if c.CacheDir == "" {
		c.CacheDir = filepath.Join(home, "hub")
	}
	for _, v := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		if t := strings.TrimSpace(os.Getenv(v)); t != "" {
			c.Token, c.TokenSource = t, v
			return c
		}
	}
	tokenFile := os.Getenv("HF_TOKEN_PATH")
	if tokenFile == "" {
		tokenFile = filepath.Join(home, "token")
	}
	if b, err := os.ReadFile(tokenFile); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		c.Token, c.TokenSource = strings.TrimSpace(string(b)), tokenFile
	}
	return c
}

// Client talks to one Hub endpoint and keeps files in one cache. Revision
// lookups and tree listings are remembered for the life of the process
// (listings are of commits, which never change). Safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client

	mu    sync.Mutex
	revs  map[string]string  // "repo@rev" → commit
	trees map[string][]Entry // "repo@commit:dir:recursive" → entries
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	cfg.Endpoint = strings.TrimRight(cfg.Endpoint, "/")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 2 * time.Minute
	return &Client{
		cfg: cfg,
		// Redirects are followed by hand so the token goes to the Hub only.
		http:  &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		revs:  map[string]string{},
		trees: map[string][]Entry{},
	}
}

var (
	clientsMu sync.Mutex
	clients   = map[Config]*Client{}
)

// FromEnv returns the process-wide client for the current environment
// (ConfigFromEnv); a changed environment gets its own client.
func FromEnv() *Client {
	cfg := ConfigFromEnv()
	clientsMu.Lock()
	defer clientsMu.Unlock()
	c := clients[cfg]
	if c == nil {
		c = New(cfg)
		clients[cfg] = c
	}
	return c
}

// Config returns the client's configuration.
func (c *Client) Config() Config { return c.cfg }

// Entry is one item of a repository tree listing.
type Entry struct {
	Type string `json:"type"` // "file" or "directory"
	OID  string `json:"oid"`  // git object id (of the LFS pointer, for LFS files)
	Size int64  `json:"size"`
	Path string `json:"path"`
	LFS  *LFS   `json:"lfs,omitempty"`
}

// LFS describes a file stored with Git LFS (or Xet): its content's sha256.
type LFS struct {
	OID  string `json:"oid"`
	Size int64  `json:"size"`
}

// IsFile reports whether the entry is a file.
func (e Entry) IsFile() bool { return e.Type == "file" }

// ContentSize is the size of the file's content.
func (e Entry) ContentSize() int64 {
	if e.LFS != nil {
		return e.LFS.Size
	}
	return e.Size
}

// BlobName is the file's name in the cache's blobs/ directory, as
// huggingface_hub names it: the content's sha256 for LFS files, the git
// blob id otherwise.
func (e Entry) BlobName() string {
	if e.LFS != nil {
		return e.LFS.OID
	}
	return e.OID
}

var (
	commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// IsCommit reports whether rev is a full commit id.
func IsCommit(rev string) bool { return commitRE.MatchString(rev) }

// Retry policy for requests that fail with 429, 5xx or a transport error.
var (
	maxAttempts = 6
	backoffBase = 500 * time.Millisecond
	backoffMax  = 30 * time.Second
)

const userAgent = "bltpipe-hfhub/1"

// get performs a GET, following redirects (the token only goes to the
// endpoint's origin) and retrying 429, 5xx and transport errors with
// exponential backoff (Retry-After is honoured). The caller checks the
// status of the response it gets.
func (c *Client) get(ctx context.Context, rawURL string, hdr http.Header) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := c.once(ctx, rawURL, hdr)
		if err == nil && !retryable(resp.StatusCode) {
			return resp, nil
		}
		if attempt >= maxAttempts || ctx.Err() != nil {
			if err != nil {
				return nil, err
			}
			return resp, nil
		}
		wait := min(backoffBase<<(attempt-1), backoffMax)
		if resp != nil {
			if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s >= 0 {
				wait = min(time.Duration(s)*time.Second, backoffMax)
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusInternalServerError ||
		status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// once is one attempt of get.
func (c *Client) once(ctx context.Context, rawURL string, hdr http.Header) (*http.Response, error) {
	for hop := 0; hop < 10; hop++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return nil, err
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", userAgent)
		if c.cfg.Token != "" && c.sameOrigin(req.URL) {
			req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, err
		}
		switch resp.StatusCode {
		case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			loc, err := resp.Location()
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if err != nil {
				return nil, fmt.Errorf("GET %s: redirect without a usable Location: %w", rawURL, err)
			}
			rawURL = loc.String()
			continue
		}
		return resp, nil
	}
	return nil, fmt.Errorf("GET %s: too many redirects", rawURL)
}

func (c *Client) sameOrigin(u *url.URL) bool {
	ep, err := url.Parse(c.cfg.Endpoint)
	return err == nil && strings.EqualFold(ep.Scheme, u.Scheme) && strings.EqualFold(ep.Host, u.Host)
}

// HTTPError is a response the Hub answered with an error status.
type HTTPError struct {
	Status  int
	Code    string // X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo, …)
	What    string // what was being done
	Message string // the Hub's message
	token   string // where the token came from; "" if none was sent
}

func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: HTTP %d", e.What, e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		if e.token == "" {
			b.WriteString("; the repository is private or gated, or does not exist, and no token was sent: set HF_TOKEN to a Hugging Face access token that can read it")
		} else {
			fmt.Fprintf(&b, "; the token from %s was refused or cannot read this repository (private or gated: accept its conditions on its page), or it does not exist; set HF_TOKEN to a token that can read it", e.token)
		}
	}
	return b.String()
}

// Is makes a 404 match fs.ErrNotExist.
func (e *HTTPError) Is(target error) bool {
	return target == fs.ErrNotExist && e.Status == http.StatusNotFound
}

// statusError consumes resp and describes its error status.
func (c *Client) statusError(resp *http.Response, what string) error {
	defer resp.Body.Close()
	e := &HTTPError{Status: resp.StatusCode, Code: resp.Header.Get("X-Error-Code"), What: what, Message: resp.Header.Get("X-Error-Message")}
	if c.cfg.Token != "" {
		e.token = c.cfg.TokenSource
		if e.token == "" {
			e.token = "the configuration"
		}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if e.Message == "" {
		var j struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &j) == nil && j.Error != "" {
			e.Message = j.Error
		} else if s := strings.TrimSpace(string(body)); s != "" && !strings.HasPrefix(s, "<") {
			e.Message = s
		}
	}
	if len(e.Message) > 300 {
		e.Message = e.Message[:300] + "…"
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

func escapeSegments(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func (c *Client) apiURL(repo Repo, parts ...string) string {
	return c.cfg.Endpoint + "/api/" + repo.Type + "s/" + escapeSegments(repo.ID) + "/" + strings.Join(parts, "/")
}

// ResolveURL is the download address of a file at a revision.
func (c *Client) ResolveURL(repo Repo, rev, p string) string {
	base := c.cfg.Endpoint + "/"
	if repo.Type != Model {
		base += repo.Type + "s/"
	}
	return base + escapeSegments(repo.ID) + "/resolve/" + url.PathEscape(rev) + "/" + escapeSegments(p)
}

// Commit resolves a branch, tag or ref ("" means main) to its commit id,
// once per process, and records it in the cache's refs/ like
// huggingface_hub does. A full commit id is returned as is.
func (c *Client) Commit(ctx context.Context, repo Repo, rev string) (string, error) {
	if rev == "" {
		rev = "main"
	}
	if IsCommit(rev) {
		return rev, nil
	}
	if err := checkRev(rev); err != nil {
		return "", err
	}
	key := repo.String() + "@" + rev
	c.mu.Lock()
	sha, ok := c.revs[key]
	c.mu.Unlock()
	if ok {
		return sha, nil
	}
	what := fmt.Sprintf("hf: revision %q of %s", rev, repo)
	resp, err := c.get(ctx, c.apiURL(repo, "revision", url.PathEscape(rev))+"?expand=sha", nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", c.statusError(resp, what)
	}
	defer resp.Body.Close()
	var info struct {
		SHA string `json:"sha"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&info); err != nil {
		return "", fmt.Errorf("%s: bad response: %w", what, err)
	}
	if !IsCommit(info.SHA) {
		return "", fmt.Errorf("%s: the Hub answered commit %q, not a 40-digit commit id", what, info.SHA)
	}
	if err := c.writeRef(repo, rev, info.SHA); err != nil {
		return "", err
	}
	c.mu.Lock()
	c.revs[key] = info.SHA
	c.mu.Unlock()
	return info.SHA, nil
}

// Tree lists the directory dir ("" for the root) of a repository at a
// commit, recursively or not, following the Hub's pagination. A missing
// directory is an error matching fs.ErrNotExist. Entries with paths that
// could escape the cache are refused.
func (c *Client) Tree(ctx context.Context, repo Repo, commit, dir string, recursive bool) ([]Entry, error) {
	if !IsCommit(commit) {
		return nil, fmt.Errorf("hf: tree of %s: %q is not a commit id", repo, commit)
	}
	if err := checkPath(dir, true); err != nil {
		return nil, fmt.Errorf("hf: tree of %s: %w", repo, err)
	}
	key := fmt.Sprintf("%s@%s:%s:%v", repo, commit, dir, recursive)
	c.mu.Lock()
	cached, ok := c.trees[key]
	c.mu.Unlock()
	if ok {
		return cached, nil
	}
	what := fmt.Sprintf("hf: list %s@%s/%s", repo, commit[:12], dir)
	next := c.apiURL(repo, "tree", commit)
	if dir != "" {
		next += "/" + escapeSegments(dir)
	}
	next += "?recursive=" + strconv.FormatBool(recursive) + "&expand=false"
	var out []Entry
	for pages := 0; next != ""; pages++ {
		if pages > 1_000_000 {
			return nil, fmt.Errorf("%s: too many pages", what)
		}
		resp, err := c.get(ctx, next, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, c.statusError(resp, what)
		}
		var page []Entry
		err = json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: bad listing: %w", what, err)
		}
		for _, e := range page {
			if err := checkEntry(e); err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
		}
		out = append(out, page...)
		next = linkNext(resp.Header.Values("Link"), resp.Request.URL)
	}
	c.mu.Lock()
	c.trees[key] = out
	c.mu.Unlock()
	return out, nil
}

func checkEntry(e Entry) error {
	if err := checkPath(e.Path, false); err != nil {
		return fmt.Errorf("refusing listed %w", err)
	}
	if !e.IsFile() {
		return nil
	}
	if e.LFS != nil {
		if !sha256RE.MatchString(e.LFS.OID) || e.LFS.Size < 0 {
			return fmt.Errorf("listed file %s: bad LFS sha256 %q or size", e.Path, e.LFS.OID)
		}
		return nil
	}
	if !commitRE.MatchString(e.OID) || e.Size < 0 {
		return fmt.Errorf("listed file %s: bad git object id %q or size", e.Path, e.OID)
	}
	return nil
}

// linkNext returns the rel="next" target of Link headers, resolved against
// the request's URL, or "".
func linkNext(links []string, base *url.URL) string {
	for _, h := range links {
		for _, part := range strings.Split(h, ",") {
			target, params, ok := strings.Cut(part, ";")
			if !ok {
				continue
			}
			target = strings.TrimSpace(target)
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && strings.Trim(v, `"`) == "next" {
					u, err := base.Parse(target[1 : len(target)-1])
					if err != nil {
						return ""
					}
					return u.String()
				}
			}
		}
	}
	return ""
}

// Glob expands an hf:// pattern into the files it matches, sorted, as
// hf:// paths pinned to the commit the revision pointed at (so every worker
// of a run reads the same bytes, and outputs name exactly what was read).
// Matching is the gs:// one: * and ? do not cross '/', ** does. A pattern
// without meta characters names a file, or a directory: every file below
// it but hidden ones, as for a local directory. A directory that does not
// exist matches nothing.
func (c *Client) Glob(ctx context.Context, pattern string) ([]string, error) {
	u, err := ParseURI(pattern)
	if err != nil {
		return nil, err
	}
	if u.Path == "" {
		return nil, fmt.Errorf("hf: %s: give a file or a glob inside the repository, e.g. %s/data/*.parquet", pattern, pattern)
	}
	re, err := globRegexp(u.Path)
	if err != nil {
		return nil, err
	}
	commit, err := c.Commit(ctx, u.Repo, u.Rev)
	if err != nil {
		return nil, err
	}
	dir, recursive := globDir(u.Path)
	entries, err := c.Tree(ctx, u.Repo, commit, dir, recursive)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsFile() && re.MatchString(e.Path) {
			out = append(out, URI{Repo: u.Repo, Rev: commit, Path: e.Path}.String())
		}
		if !e.IsFile() && e.Path == u.Path && !hasMeta(u.Path) {
			return c.below(ctx, u.Repo, commit, u.Path)
		}
	}
	return out, nil
}

// below lists every file under a directory, like a local directory input:
// names starting with '.' (files and directories) are left out.
func (c *Client) below(ctx context.Context, repo Repo, commit, dir string) ([]string, error) {
	entries, err := c.Tree(ctx, repo, commit, dir, true)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		rel := strings.TrimPrefix(e.Path, dir+"/")
		if !e.IsFile() || strings.HasPrefix(rel, ".") || strings.Contains(rel, "/.") {
			continue
		}
		out = append(out, URI{Repo: repo, Rev: commit, Path: e.Path}.String())
	}
	return out, nil
}

// Stat returns the listing entry of the file an hf:// path names, and the
// commit its revision resolves to.
func (c *Client) Stat(ctx context.Context, name string) (URI, string, Entry, error) {
	u, err := ParseURI(name)
	if err != nil {
		return URI{}, "", Entry{}, err
	}
	if u.Path == "" || hasMeta(u.Path) {
		return URI{}, "", Entry{}, fmt.Errorf("hf: %s does not name one file", name)
	}
	commit, err := c.Commit(ctx, u.Repo, u.Rev)
	if err != nil {
		return URI{}, "", Entry{}, err
	}
	dir, _ := globDir(u.Path)
	entries, err := c.Tree(ctx, u.Repo, commit, dir, false)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return URI{}, "", Entry{}, err
	}
	for _, e := range entries {
		if e.Path == u.Path {
			if !e.IsFile() {
				return URI{}, "", Entry{}, fmt.Errorf("hf: %s is a directory", name)
			}
			return u, commit, e, nil
		}
	}
	return URI{}, "", Entry{}, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

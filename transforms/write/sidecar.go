package write

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/record"
	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"
)

// sidecar builds one split's hypergraph database in a local scratch file
// and copies it to the output on close (SQLite needs a local file; the
// output may be gs://).
type sidecar struct {
	final   string
	scratch string
	db      *sql.DB
	tx      *sql.Tx
	node    *sql.Stmt
	edge    *sql.Stmt
	nextID  int64
	trunks  map[string]int64
	branch  map[[2]string]int64
	leaves  int64
	meta    map[string]string
	aborted bool
}

func newSidecar(final string, meta map[string]string) (*sidecar, error) {
	dir, err := os.MkdirTemp("", "bltpipe-sidecar-")
	if err != nil {
		return nil, fmt.Errorf("scratch dir for %s: %w", final, err)
	}
	sc := &sidecar{final: final, scratch: filepath.Join(dir, "graph.db"), trunks: map[string]int64{}, branch: map[[2]string]int64{}, meta: meta}
	fail := func(err error) (*sidecar, error) {
		sc.abort()
		return nil, fmt.Errorf("sidecar %s: %w", final, err)
	}
	if sc.db, err = sql.Open("sqlite", sc.scratch); err != nil {
		return fail(err)
	}
	sc.db.SetMaxOpenConns(1)
	for _, q := range []string{"PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF", "PRAGMA page_size=4096", schemas.SidecarDDL} {
		if _, err := sc.db.Exec(q); err != nil {
			return fail(err)
		}
	}
	if sc.tx, err = sc.db.Begin(); err != nil {
		return fail(err)
	}
	if sc.node, err = sc.tx.Prepare(`INSERT INTO nodes (id, kind, label, source, modality, doc_id, patch_index, byte_offset, byte_length, mean_entropy, mean_prominence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
		return fail(err)
	}
	if sc.edge, err = sc.tx.Prepare(`INSERT INTO edges (src, dst, kind) VALUES (?, ?, ?)`); err != nil {
		return fail(err)
	}
	return sc, nil
}

func (g *sidecar) addNode(kind, label, source string, modality, docID any, idx, off, length, ent, prom any) (int64, error) {
	g.nextID++
	_, err := g.node.Exec(g.nextID, kind, label, source, modality, docID, idx, off, length, ent, prom)
	return g.nextID, err
}

// add inserts a document's patches: its source's trunk and modality branch
// on first sight, one leaf per patch, contains and next edges.
func (g *sidecar) add(sc record.Scored) error {
	d := sc.Doc
	trunk, ok := g.trunks[d.Source]
	var err error
	if !ok {
		if trunk, err = g.addNode(schemas.NodeTrunk, d.Source, d.Source, nil, nil, nil, nil, nil, nil, nil); err != nil {
			return err
		}
		g.trunks[d.Source] = trunk
	}
	bk := [2]string{d.Source, d.Modality}
	br, ok := g.branch[bk]
	if !ok {
		if br, err = g.addNode(schemas.NodeBranch, d.Modality, d.Source, d.Modality, nil, nil, nil, nil, nil, nil); err != nil {
			return err
		}
		g.branch[bk] = br
		if _, err := g.edge.Exec(trunk, br, schemas.EdgeContains); err != nil {
			return err
		}
	}
	prev := int64(0)
	for i, p := range sc.Patches {
		leaf, err := g.addNode(schemas.NodeLeaf, fmt.Sprintf("%s/%d", d.ID, i), d.Source, d.Modality, d.ID, i, p.ByteOffset, p.ByteLength, float64(p.MeanEntropy), float64(p.MeanProminence))
		if err != nil {
			return err
		}
		g.leaves++
		if _, err := g.edge.Exec(br, leaf, schemas.EdgeContains); err != nil {
			return err
		}
		if prev != 0 {
			if _, err := g.edge.Exec(prev, leaf, schemas.EdgeNext); err != nil {
				return err
			}
		}
		prev = leaf
	}
	return nil
}

// close finishes the database (meta rows, indexes) and copies it to the
// output atomically; it returns the copy's size and sha256.
func (g *sidecar) close(ctx context.Context) (int64, string, error) {
	defer g.abort()
	keys := make([]string, 0, len(g.meta))
	for k := range g.meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, err := g.tx.Exec(`INSERT INTO meta (key, value) VALUES (?, ?)`, k, g.meta[k]); err != nil {
			return 0, "", fmt.Errorf("sidecar %s: %w", g.final, err)
		}
	}
	if _, err := g.tx.Exec(schemas.SidecarIndexes); err != nil {
		return 0, "", fmt.Errorf("sidecar %s: %w", g.final, err)
	}
	g.node.Close()
	g.edge.Close()
	if err := g.tx.Commit(); err != nil {
		return 0, "", fmt.Errorf("sidecar %s: %w", g.final, err)
	}
	if err := g.db.Close(); err != nil {
		return 0, "", fmt.Errorf("sidecar %s: %w", g.final, err)
	}
	g.db = nil
	return fsio.CopyLocal(ctx, g.scratch, g.final)
}

func (g *sidecar) abort() {
	if g.aborted {
		return
	}
	g.aborted = true
	if g.db != nil {
		if g.tx != nil {
			g.tx.Rollback()
		}
		g.db.Close()
	}
	os.RemoveAll(filepath.Dir(g.scratch))
}

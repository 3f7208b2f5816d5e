package write

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/record"
	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"
)

// sidecar builds one split's hypergraph database in a local scratch file
// and copies it to the output on close (SQLite needs a local file; the
// output may be gs://). Schema and edge rules: schemas.SidecarDDL.
type sidecar struct {
	final   string
	scratch string
	db      *sql.DB
	conn    *sql.Conn // the database's one connection; tx runs on it
	tx      *sql.Tx
	node    *sql.Stmt  // inserts sidecarBatch nodes
	edge    *sql.Stmt  // inserts sidecarBatch edges
	nodes   []any      // arguments of nodes not inserted yet (nodeCols each)
	edges   []any      // arguments of edges not inserted yet (3 each)
	spill   *leafSpill // patch leaves until close (see leafSpill)
	nextID  int64
	trunks  map[trunkKey]int64
	last    map[int64]int64 // trunk → its latest branch (same_source chain)
	pending []memberReject  // resolved on close, when every trunk is known
	leaves  int64           // patch nodes (the shard's row count)
	meta    map[string]string
	aborted bool
}

type trunkKey struct{ source, member string }

type memberReject struct {
	source, path, why string
}

// node is one row of the node_rows table; nil fields are NULL.
type node struct {
	kind, label, source                      string
	trunk, member, format, size, sha256      any
	reject, view, viewIndex, modality, docID any
	segmentIndex, offset, length, meta       any
	firstPatch, lastPatch                    any // the patch ids under a branch or segment
}

func newSidecar(final string, meta map[string]string) (*sidecar, error) {
	dir, err := os.MkdirTemp("", "bltpipe-sidecar-")
	if err != nil {
		return nil, fmt.Errorf("scratch dir for %s: %w", final, err)
	}
	sc := &sidecar{final: final, scratch: filepath.Join(dir, "graph.db"), trunks: map[trunkKey]int64{}, last: map[int64]int64{}, meta: meta}
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
	if sc.conn, err = sc.db.Conn(context.Background()); err != nil {
		return fail(err)
	}
	if sc.tx, err = sc.conn.BeginTx(context.Background(), nil); err != nil {
		return fail(err)
	}
	if sc.node, err = sc.tx.Prepare(insertNodes(sidecarBatch)); err != nil {
		return fail(err)
	}
	if sc.edge, err = sc.tx.Prepare(insertEdges(sidecarBatch)); err != nil {
		return fail(err)
	}
	if sc.spill, err = newLeafSpill(filepath.Join(dir, "leaves.spill")); err != nil {
		return fail(err)
	}
	return sc, nil
}

// sidecarBatch rows go into one INSERT: per-statement overhead, not SQLite's
// B-tree work, dominated one-row inserts (~53 k patches/s before, see
// BenchmarkSidecar).
const sidecarBatch = 64

// patchBatch patch leaves go into one INSERT (8 numbers each).
const patchBatch = 256

const (
	nodeCols  = 20
	patchCols = 8
)

func insertNodes(rows int) string {
	return `INSERT INTO node_rows (id, kind, label, source, trunk, member, format, size, sha256, reject,
		view, view_index, modality, doc_id, segment_index, byte_offset, byte_length, meta, first_patch, last_patch)
		VALUES ` + placeholders(rows, nodeCols)
}

func insertEdges(rows int) string {
	return `INSERT OR IGNORE INTO edge_rows (src, dst, kind) VALUES ` + placeholders(rows, 3)
}

func insertPatches(rows int) string {
	return `INSERT INTO patch_leaves (id, branch, parent, patch_index, byte_offset, byte_length, mean_entropy, mean_prominence)
		VALUES ` + placeholders(rows, patchCols)
}

// placeholders returns "(?, …), (?, …)…": rows groups of cols.
func placeholders(rows, cols int) string {
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return row + strings.Repeat(", "+row, rows-1)
}

// addNode queues a node and returns its id; the rows reach SQLite in
// batches (flush writes the rest).
func (g *sidecar) addNode(n node) (int64, error) {
	g.nextID++
	g.nodes = append(g.nodes, g.nextID, n.kind, n.label, n.source, n.trunk, n.member, n.format, n.size, n.sha256, n.reject,
		n.view, n.viewIndex, n.modality, n.docID, n.segmentIndex, n.offset, n.length, n.meta, n.firstPatch, n.lastPatch)
	if len(g.nodes) == sidecarBatch*nodeCols {
		if _, err := g.node.Exec(g.nodes...); err != nil {
			return 0, err
		}
		g.nodes = g.nodes[:0]
	}
	return g.nextID, nil
}

// loadLeaves inserts the spilled patch leaves, in id order, through the
// driver's statement on the transaction's connection: most of the CPU of
// a model-free run is these inserts, and database/sql's per-argument
// conversion (a fresh argument slice per statement) was a third of it.
func (g *sidecar) loadLeaves(ctx context.Context) error {
	prev := int64(-1)
	err := g.conn.Raw(func(dc any) error {
		prep, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("SQLite driver connection %T cannot prepare statements", dc)
		}
		args := make([]driver.NamedValue, patchBatch*patchCols)
		for i := range args {
			args[i].Ordinal = i + 1
		}
		// prepare returns an INSERT of rows leaves; close it after use.
		prepare := func(rows int) (driver.Stmt, driver.StmtExecContext, error) {
			st, err := prep.PrepareContext(ctx, insertPatches(rows))
			if err != nil {
				return nil, nil, err
			}
			ex, ok := st.(driver.StmtExecContext)
			if !ok {
				st.Close()
				return nil, nil, fmt.Errorf("SQLite driver statement %T cannot execute with a context", st)
			}
			return st, ex, nil
		}
		// exec inserts the first rows of args with a statement of that many rows.
		exec := func(rows int) error {
			st, ex, err := prepare(rows)
			if err != nil {
				return err
			}
			defer st.Close()
			_, err = ex.ExecContext(ctx, args[:rows*patchCols])
			return err
		}
		full, batch, err := prepare(patchBatch)
		if err != nil {
			return err
		}
		defer full.Close()
		n := 0
		err = g.spill.each(func(l leaf) error {
			a := args[n*patchCols : (n+1)*patchCols]
			a[0].Value = l.id
			if l.id == prev+1 {
				a[0].Value = nil // SQLite appends it as max(id)+1 = l.id, without a B-tree search
			}
			prev = l.id
			a[1].Value, a[2].Value, a[3].Value = l.branch, l.parent, int64(l.index)
			a[4].Value, a[5].Value = l.byteOffset, l.byteLength
			a[6].Value, a[7].Value = sqlReal(l.meanEntropy), sqlReal(l.prominence)
			if n++; n < patchBatch {
				return nil
			}
			n = 0
			_, err := batch.ExecContext(ctx, args)
			return err
		})
		if err == nil && n > 0 {
			err = exec(n)
		}
		return err
	})
	if err != nil {
		return err
	}
	// SQLite gives a NULL id max(id)+1 (a table's ids never near 2^63);
	// the last one proves the run.
	var last sql.NullInt64
	if err := g.tx.QueryRowContext(ctx, `SELECT max(id) FROM patch_leaves`).Scan(&last); err != nil {
		return err
	}
	if last.Int64 != max(prev, 0) {
		return fmt.Errorf("patch leaves end at id %d, want %d", last.Int64, prev)
	}
	return nil
}

func (g *sidecar) addEdge(src, dst int64, kind string) error {
	g.edges = append(g.edges, src, dst, kind)
	if len(g.edges) == sidecarBatch*3 {
		if _, err := g.edge.Exec(g.edges...); err != nil {
			return err
		}
		g.edges = g.edges[:0]
	}
	return nil
}

// flush inserts the queued nodes and edges of a last, partial batch.
func (g *sidecar) flush() error {
	if n := len(g.nodes) / nodeCols; n > 0 {
		if _, err := g.tx.Exec(insertNodes(n), g.nodes...); err != nil {
			return err
		}
		g.nodes = g.nodes[:0]
	}
	if n := len(g.edges) / 3; n > 0 {
		if _, err := g.tx.Exec(insertEdges(n), g.edges...); err != nil {
			return err
		}
		g.edges = g.edges[:0]
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// trunkLabel is a trunk's label: the source, or source!/member.
func trunkLabel(source, member string) string {
	if member == "" {
		return source
	}
	return source + "!/" + member
}

// trunk returns the id of the document's trunk, creating the chain from
// the input file down (member_of edges from each member to its archive).
func (g *sidecar) trunk(d record.Document) (int64, error) {
	chain := d.Origin.Trunks
	if len(chain) == 0 {
		chain = []record.Trunk{{}} // a record of a JSONL/Parquet file: the file, size unknown here
	}
	var id, parent int64
	for i, t := range chain {
		k := trunkKey{d.Source, t.Member}
		if id = g.trunks[k]; id != 0 {
			parent = id
			continue
		}
		n := node{kind: schemas.NodeTrunk, label: trunkLabel(d.Source, t.Member), source: d.Source,
			member: t.Member, format: nullIfEmpty(t.Kind)}
		if t.SHA256 != "" {
			n.size, n.sha256 = t.Size, t.SHA256
		}
		if i == len(chain)-1 {
			n.reject = nullIfEmpty(d.Origin.Reject)
		}
		var err error
		if id, err = g.addNode(n); err != nil {
			return 0, err
		}
		g.trunks[k] = id
		if i > 0 {
			if err := g.addEdge(id, parent, schemas.EdgeMemberOf); err != nil {
				return 0, err
			}
		}
		parent = id
	}
	return id, nil
}

// add inserts a scored document: its trunk chain on first sight, a branch
// (the view the document reads), its segments and one leaf per patch, with
// contains, next and same_source edges. A patch hangs under the segment
// holding its first byte (byte_offset), or under the branch when no
// segment does (gaps, the EOS patch, documents without segments).
func (g *sidecar) add(sc record.Scored) error {
	d := sc.Doc
	o := d.Origin
	trunk, err := g.trunk(d)
	if err != nil {
		return err
	}
	for _, m := range o.MemberRejects {
		path, why, _ := strings.Cut(m, ": ")
		g.pending = append(g.pending, memberReject{d.Source, path, why})
	}
	view := o.View
	if view == "" {
		view = d.Modality
	}
	// Ids: the branch, then its segments, then its patches. Each patch
	// hangs under the segment holding its first byte (byte_offset), or
	// under the branch when no segment does (gaps, the EOS patch,
	// documents without segments); a segment's patches are consecutive.
	firstPatch := g.nextID + 2 + int64(len(o.Segments))
	parentSeg := make([]int, len(sc.Patches)) // segment index, or -1 for the branch
	segRange := make([][2]any, len(o.Segments))
	for i, j := 0, 0; i < len(sc.Patches); i++ {
		p := sc.Patches[i]
		for j < len(o.Segments) && o.Segments[j].End <= p.ByteOffset {
			j++
		}
		parentSeg[i] = -1
		if j < len(o.Segments) && o.Segments[j].Start <= p.ByteOffset {
			parentSeg[i] = j
			id := firstPatch + int64(i)
			if segRange[j][0] == nil {
				segRange[j][0] = id
			}
			segRange[j][1] = id
		}
	}
	var brFirst, brLast any
	if len(sc.Patches) > 0 {
		brFirst, brLast = firstPatch, firstPatch+int64(len(sc.Patches))-1
	}
	br, err := g.addNode(node{kind: schemas.NodeBranch, label: view, source: d.Source, trunk: trunk,
		view: view, viewIndex: o.ViewIndex, modality: d.Modality, docID: d.ID, offset: int64(0), length: int64(len(d.Data)),
		meta: nullIfEmpty(o.ViewMeta), firstPatch: brFirst, lastPatch: brLast})
	if err != nil {
		return err
	}
	if err := g.addEdge(trunk, br, schemas.EdgeContains); err != nil {
		return err
	}
	// same_source chains the views of one source; records of a JSONL or
	// Parquet file (no trunk chain) share the file's trunk but are
	// different sources.
	if len(o.Trunks) > 0 {
		if prev := g.last[trunk]; prev != 0 {
			if err := g.addEdge(prev, br, schemas.EdgeSameSource); err != nil {
				return err
			}
		}
		g.last[trunk] = br
	}
	segs := make([]int64, len(o.Segments))
	for i, sp := range o.Segments {
		if segs[i], err = g.addNode(node{kind: schemas.NodeSegment, label: sp.Label, source: d.Source, trunk: trunk,
			modality: d.Modality, docID: d.ID, segmentIndex: i, offset: sp.Start, length: sp.End - sp.Start,
			meta: nullIfEmpty(sp.Meta), firstPatch: segRange[i][0], lastPatch: segRange[i][1]}); err != nil {
			return err
		}
		if err := g.addEdge(br, segs[i], schemas.EdgeContains); err != nil {
			return err
		}
		if i > 0 {
			if err := g.addEdge(segs[i-1], segs[i], schemas.EdgeNext); err != nil {
				return err
			}
		}
	}
	// Patch leaves, spilled until close: their contains and next edges are
	// derived by the edges view (parent column and id ranges; consecutive
	// ids within the document).
	if g.nextID+1 != firstPatch {
		return fmt.Errorf("sidecar: the patches of %q would start at id %d, want %d", d.ID, g.nextID+1, firstPatch)
	}
	parents := make([]int64, len(sc.Patches))
	for i := range sc.Patches {
		parents[i] = br
		if k := parentSeg[i]; k >= 0 {
			parents[i] = segs[k]
		}
	}
	if err := g.spill.add(firstPatch, br, parents, sc.Patches); err != nil {
		return fmt.Errorf("sidecar: %q: %w", d.ID, err)
	}
	g.nextID += int64(len(sc.Patches))
	g.leaves += int64(len(sc.Patches))
	return nil
}

// flushMemberRejects adds a trunk per archive member the segmenter left
// out, with its reason, member_of the nearest enclosing trunk known.
func (g *sidecar) flushMemberRejects() error {
	for _, m := range g.pending {
		k := trunkKey{m.source, m.path}
		if g.trunks[k] != 0 {
			continue
		}
		parent := g.trunks[trunkKey{m.source, ""}]
		for p := m.path; ; {
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				break
			}
			p = p[:i]
			if id := g.trunks[trunkKey{m.source, p}]; id != 0 {
				parent = id
				break
			}
		}
		id, err := g.addNode(node{kind: schemas.NodeTrunk, label: trunkLabel(m.source, m.path), source: m.source,
			member: m.path, reject: m.why})
		if err != nil {
			return err
		}
		g.trunks[k] = id
		if parent != 0 {
			if err := g.addEdge(id, parent, schemas.EdgeMemberOf); err != nil {
				return err
			}
		}
	}
	g.pending = nil
	return nil
}

// close finishes the database (meta rows, indexes) and copies it to the
// output atomically; it returns the copy's size and sha256.
func (g *sidecar) close(ctx context.Context) (int64, string, error) {
	defer g.abort()
	if err := g.flushMemberRejects(); err != nil {
		return 0, "", fmt.Errorf("sidecar %s: %w", g.final, err)
	}
	if err := g.flush(); err != nil {
		return 0, "", fmt.Errorf("sidecar %s: %w", g.final, err)
	}
	if err := g.loadLeaves(ctx); err != nil {
		return 0, "", fmt.Errorf("sidecar %s: patch leaves: %w", g.final, err)
	}
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
	if err := g.conn.Close(); err != nil {
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
	if g.spill != nil {
		g.spill.close()
	}
	if g.db != nil {
		if g.tx != nil {
			g.tx.Rollback()
		}
		if g.conn != nil {
			g.conn.Close()
		}
		g.db.Close()
	}
	os.RemoveAll(filepath.Dir(g.scratch))
}

// sqlReal is a patch summary as an SQL value: NULL for NaN (no model ran).
func sqlReal(v float32) any {
	if v != v {
		return nil
	}
	return float64(v)
}

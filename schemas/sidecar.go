package schemas

// SidecarDDL creates the tables of one hypergraph sidecar
// (hypergraph/part-….hypergraph.db), schema Version. Node kinds:
//
//   - trunk: one per source — the input file (member = ”) or an archive
//     member (member = its path inside the file); label = source, or
//     source + "!/" + member; format, size, sha256 (NULL for the files of
//     JSONL/Parquet records); reject = why the segmenter rejected it;
//   - branch: one per view of a trunk; its bytes are one document (doc_id,
//     view, view_index, modality, byte_length, meta JSON);
//   - segment: a leaf of a view: label, segment_index, byte range into the
//     view's document, meta JSON;
//   - patch: a leaf per patch: doc_id, patch_index, byte range, means.
//
// branch, segment and patch rows carry their trunk's id (trunk column).
//
// Edges: "contains" trunk→branch→segment→patch (a patch belongs to the
// segment holding its first byte, else straight to its branch); "next"
// between consecutive segments and consecutive patches of one document;
// "same_source" from each branch to the next branch of the same trunk;
// "member_of" from an archive member's trunk to the archive's trunk. The
// meta table holds key/value run parameters (schema_version, split,
// model_sha256, patching, …).
//
// Patches are most of the rows, so they are stored apart: patch_leaves
// holds one row of numbers per patch (ids consecutive within a document),
// and the views nodes and edges add the patch nodes and their contains and
// next edges to the other nodes (node_rows) and edges (edge_rows). Queries
// use nodes and edges; writing a patch is one narrow row, not a node with
// its strings and two edges. A branch's patches, and a segment's, have
// consecutive ids, first_patch … last_patch of its node_rows row: the
// views find them by rowid range, so patch_leaves carries no index
// (SidecarIndexes keeps the other lookups indexed).
const SidecarDDL = `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE node_rows (
  id              INTEGER PRIMARY KEY,
  kind            TEXT NOT NULL CHECK (kind IN ('trunk', 'branch', 'segment')),
  label           TEXT NOT NULL,
  source          TEXT NOT NULL,
  trunk           INTEGER,
  member          TEXT,
  format          TEXT,
  size            INTEGER,
  sha256          TEXT,
  reject          TEXT,
  view            TEXT,
  view_index      INTEGER,
  modality        TEXT,
  doc_id          TEXT,
  segment_index   INTEGER,
  byte_offset     INTEGER,
  byte_length     INTEGER,
  meta            TEXT,
  first_patch     INTEGER,
  last_patch      INTEGER
);
CREATE TABLE patch_leaves (
  id              INTEGER PRIMARY KEY,
  branch          INTEGER NOT NULL REFERENCES node_rows(id),
  parent          INTEGER NOT NULL REFERENCES node_rows(id),
  patch_index     INTEGER NOT NULL,
  byte_offset     INTEGER NOT NULL,
  byte_length     INTEGER NOT NULL,
  mean_entropy    REAL,
  mean_prominence REAL
);
CREATE TABLE edge_rows (
  src  INTEGER NOT NULL,
  dst  INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('contains', 'next', 'same_source', 'member_of')),
  PRIMARY KEY (src, dst, kind)
) WITHOUT ROWID;
CREATE VIEW nodes (id, kind, label, source, trunk, member, format, size, sha256, reject, view, view_index,
                   modality, doc_id, segment_index, patch_index, byte_offset, byte_length, meta,
                   mean_entropy, mean_prominence) AS
  SELECT id, kind, label, source, trunk, member, format, size, sha256, reject, view, view_index,
         modality, doc_id, segment_index, NULL, byte_offset, byte_length, meta, NULL, NULL
    FROM node_rows
  UNION ALL
  SELECT p.id, 'patch', b.doc_id || '/' || p.patch_index, b.source, b.trunk, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         b.modality, b.doc_id, NULL, p.patch_index, p.byte_offset, p.byte_length, NULL, p.mean_entropy, p.mean_prominence
    FROM node_rows b JOIN patch_leaves p ON p.branch = b.id AND p.id BETWEEN b.first_patch AND b.last_patch;
CREATE VIEW edges (src, dst, kind) AS
  SELECT src, dst, kind FROM edge_rows
  UNION ALL
  SELECT s.id, p.id, 'contains' FROM node_rows s JOIN patch_leaves p
      ON p.parent = s.id AND p.id BETWEEN s.first_patch AND s.last_patch
  UNION ALL
  SELECT p.id, q.id, 'next' FROM patch_leaves p JOIN patch_leaves q
      ON q.id = p.id + 1 AND p.id = q.id - 1 AND q.branch = p.branch;
`

// SidecarIndexes are created after the rows are loaded (faster bulk load):
// nodes by document and byte offset inside it, by trunk, by source path;
// edges by destination. Patch leaves need no index: a branch's patches,
// and a segment's, are a range of consecutive ids (first_patch …
// last_patch of its node_rows row), which the views look up by rowid.
// Lookups through the nodes and edges views use these (no scan of a whole
// table): pipelines/sidecar_test.go checks the plans.
const SidecarIndexes = `
CREATE INDEX nodes_by_offset ON node_rows (doc_id, byte_offset);
CREATE INDEX nodes_by_trunk ON node_rows (trunk, kind);
CREATE INDEX nodes_by_source ON node_rows (source, member);
CREATE INDEX edges_by_dst ON edge_rows (dst, kind);
`

// Sidecar node and edge kinds.
const (
	NodeTrunk      = "trunk"
	NodeBranch     = "branch"
	NodeSegment    = "segment"
	NodePatch      = "patch"
	EdgeContains   = "contains"
	EdgeNext       = "next"
	EdgeSameSource = "same_source"
	EdgeMemberOf   = "member_of"
)

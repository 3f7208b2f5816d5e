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
const SidecarDDL = `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE nodes (
  id              INTEGER PRIMARY KEY,
  kind            TEXT NOT NULL CHECK (kind IN ('trunk', 'branch', 'segment', 'patch')),
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
  patch_index     INTEGER,
  byte_offset     INTEGER,
  byte_length     INTEGER,
  meta            TEXT,
  mean_entropy    REAL,
  mean_prominence REAL
);
CREATE TABLE edges (
  src  INTEGER NOT NULL REFERENCES nodes(id),
  dst  INTEGER NOT NULL REFERENCES nodes(id),
  kind TEXT NOT NULL CHECK (kind IN ('contains', 'next', 'same_source', 'member_of')),
  PRIMARY KEY (src, dst, kind)
) WITHOUT ROWID;
`

// SidecarIndexes are created after the rows are loaded (faster bulk load):
// lookups by doc_id (patch order), by byte offset inside a
// document, by trunk, by source path, and edges by destination.
const SidecarIndexes = `
CREATE INDEX nodes_by_doc ON nodes (doc_id, patch_index);
CREATE INDEX nodes_by_offset ON nodes (doc_id, byte_offset);
CREATE INDEX nodes_by_trunk ON nodes (trunk, kind);
CREATE INDEX nodes_by_source ON nodes (source, member);
CREATE INDEX edges_by_dst ON edges (dst, kind);
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

package schemas

// SidecarDDL creates the tables of one hypergraph sidecar
// (hypergraph/part-….hypergraph.db). The graph has three node kinds:
//
//   - trunk: one per source (input file or object URI), label = the URI;
//   - branch: one per (source, modality), label = the modality;
//   - leaf: one per patch, carrying doc_id, patch_index and byte range.
//
// Edges: "contains" trunk→branch and branch→leaf; "next" leaf→leaf between
// consecutive patches of one document. The meta table holds key/value run
// parameters (schema_version, split, model_sha256, patching, …).
const SidecarDDL = `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE nodes (
  id              INTEGER PRIMARY KEY,
  kind            TEXT NOT NULL CHECK (kind IN ('trunk', 'branch', 'leaf')),
  label           TEXT NOT NULL,
  source          TEXT NOT NULL,
  modality        TEXT,
  doc_id          TEXT,
  patch_index     INTEGER,
  byte_offset     INTEGER,
  byte_length     INTEGER,
  mean_entropy    REAL,
  mean_prominence REAL
);
CREATE TABLE edges (
  src  INTEGER NOT NULL REFERENCES nodes(id),
  dst  INTEGER NOT NULL REFERENCES nodes(id),
  kind TEXT NOT NULL CHECK (kind IN ('contains', 'next')),
  PRIMARY KEY (src, dst, kind)
) WITHOUT ROWID;
`

// SidecarIndexes are created after the rows are loaded (faster bulk load).
const SidecarIndexes = `
CREATE INDEX nodes_by_doc ON nodes (doc_id, patch_index);
CREATE INDEX nodes_by_kind ON nodes (kind, source);
CREATE INDEX edges_by_dst ON edges (dst, kind);
`

// Sidecar node and edge kinds.
const (
	NodeTrunk    = "trunk"
	NodeBranch   = "branch"
	NodeLeaf     = "leaf"
	EdgeContains = "contains"
	EdgeNext     = "next"
)

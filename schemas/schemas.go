// Package schemas owns the on-disk contract of a bltpipe run: the Arrow
// schemas of every Parquet and Arrow IPC table, the DDL of the SQLite
// hypergraph sidecar, the layout of the output directory and the schema
// version stamped into the manifest and the sidecars.
//
// It knows nothing about Beam or models. docs/SCHEMA.md explains every
// column; keep the two in step (TestSchemaDocMentionsEveryColumn checks).
//
// Conventions shared by all tables:
//   - A document of n bytes is scored as n+2 tokens [BOS, b0+4, …, EOS]:
//     token 0 is BOS, token i (1 ≤ i ≤ n) is byte i-1, token n+1 is EOS.
//   - Entropies are in nats; prominence is the L2 norm of the pre-norm
//     hidden state; both have one value per token (length n+2), or are
//     null when the run had no model (--model none).
//   - Byte offsets are 0-based offsets into the document's bytes. BOS sits
//     at byte offset 0 and EOS at byte offset n, both with byte length 0.
//   - Vectors are list<float32> (never fixed_size_list: readers disagree).
package schemas

import (
	"path"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Version is the output schema version written to _MANIFEST.json and to the
// meta table of every sidecar. Bump it on any incompatible change.
const Version = "bltpipe.v5"

// Output directory layout, relative to --output. Shard files are named
// part-<NNNNN>-<hash8> where NNNNN is the split's ordinal in the sorted
// split list and hash8 the first 8 hex digits of sha256(split key); see
// docs/SCHEMA.md.
const (
	DocumentsDir  = "documents"
	PatchesDir    = "patches"
	HypergraphDir = "hypergraph"
	BLTArrowDir   = "blt"
	WaterfillDir  = "waterfill"
	StatsFile     = "waterfill/_STATS.json"
	// SphereDir holds one shard per patches shard (same name) with each
	// patch's shell and radius; SphereFile describes the shells and their
	// occupancy. See docs/WATERFILL.md.
	SphereDir    = "sphere"
	SphereFile   = "sphere/_SPHERE.json"
	ManifestFile = "_MANIFEST.json"
	// TimingFile holds the wall time and throughput of the run (bltpipe
	// run writes it after the manifest); unlike every other file it is
	// not reproducible, and the manifest does not list it.
	TimingFile = "_TIMING.json"
	// SplitsDir holds one completion record per finished input split,
	// <split>.json, which lets a rerun skip the split (--resume); see
	// docs/SCHEMA.md and transforms/resume.
	SplitsDir = "_splits"

	ParquetExt    = ".parquet"
	HypergraphExt = ".hypergraph.db"
	// CompleteSuffix is appended to a BLT Arrow shard's name for its marker
	// file, as Meta's ArrowFileIterator expects.
	CompleteSuffix = ".complete"
)

// Column names of the documents table.
const (
	ColDocID        = "doc_id"
	ColSource       = "source"
	ColModality     = "modality"
	ColNumBytes     = "num_bytes"
	ColNumTokens    = "num_tokens"
	ColEntropies    = "entropies"
	ColProminence   = "prominence"
	ColPatchLengths = "patch_lengths"
)

// Column names of the patches table.
const (
	ColPatchIndex     = "patch_index"
	ColTokenOffset    = "token_offset"
	ColPatchTokens    = "num_tokens"
	ColByteOffset     = "byte_offset"
	ColByteLength     = "byte_length"
	ColMeanEntropy    = "mean_entropy"
	ColMaxEntropy     = "max_entropy"
	ColMeanProminence = "mean_prominence"
	ColMaxProminence  = "max_prominence"
	ColEmbedding      = "embedding"
)

// Column names of the sphere table (doc_id and patch_index as in patches).
const (
	ColWeight    = "weight"
	ColLogWeight = "log_weight"
	ColCoherence = "coherence"
	ColShell     = "shell"
	ColRadius    = "radius"
	ColOutlier   = "outlier"
)

// Column names of the BLT Arrow table (Meta's preprocessed-entropies layout).
const (
	ColSampleID = "sample_id"
	ColText     = "text"
)

// Float32List is list<float32>, the type of every per-token or vector column.
var Float32List = arrow.ListOf(arrow.PrimitiveTypes.Float32)

// Int32List is list<int32>.
var Int32List = arrow.ListOf(arrow.PrimitiveTypes.Int32)

// Documents returns the schema of documents/*.parquet: one row per input
// document, followed by one nullable utf8 column per kept metadata column
// (--keep-columns, in the order given).
func Documents(keep []string) *arrow.Schema {
	fields := []arrow.Field{
		{Name: ColDocID, Type: arrow.BinaryTypes.String},
		{Name: ColSource, Type: arrow.BinaryTypes.String},
		{Name: ColModality, Type: arrow.BinaryTypes.String},
		{Name: ColNumBytes, Type: arrow.PrimitiveTypes.Int64},
		{Name: ColNumTokens, Type: arrow.PrimitiveTypes.Int64},
		{Name: ColEntropies, Type: Float32List, Nullable: true}, // null: no model (--model none)
		{Name: ColProminence, Type: Float32List, Nullable: true},
		{Name: ColPatchLengths, Type: Int32List},
	}
	for _, k := range keep {
		fields = append(fields, arrow.Field{Name: k, Type: arrow.BinaryTypes.String, Nullable: true})
	}
	return arrow.NewSchema(fields, nil)
}

// Patches returns the schema of patches/*.parquet: one row per patch. The
// embedding column is present only when withEmbedding is true
// (--embeddings patch).
func Patches(withEmbedding bool) *arrow.Schema {
	fields := []arrow.Field{
		{Name: ColDocID, Type: arrow.BinaryTypes.String},
		{Name: ColPatchIndex, Type: arrow.PrimitiveTypes.Int32},
		{Name: ColTokenOffset, Type: arrow.PrimitiveTypes.Int32},
		{Name: ColPatchTokens, Type: arrow.PrimitiveTypes.Int32},
		{Name: ColByteOffset, Type: arrow.PrimitiveTypes.Int64},
		{Name: ColByteLength, Type: arrow.PrimitiveTypes.Int64},
		// The summaries are null when no model ran (--model none).
		{Name: ColMeanEntropy, Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: ColMaxEntropy, Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: ColMeanProminence, Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: ColMaxProminence, Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	}
	if withEmbedding {
		fields = append(fields, arrow.Field{Name: ColEmbedding, Type: Float32List})
	}
	return arrow.NewSchema(fields, nil)
}

// Sphere returns the schema of sphere/*.parquet: one row per valid patch
// (prominence > 1e-6), keyed by (doc_id, patch_index) like patches/. A
// patch's point is radius · embedding/‖embedding‖.
func Sphere() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: ColDocID, Type: arrow.BinaryTypes.String},
		{Name: ColPatchIndex, Type: arrow.PrimitiveTypes.Int32},
		{Name: ColWeight, Type: arrow.PrimitiveTypes.Float64},
		{Name: ColLogWeight, Type: arrow.PrimitiveTypes.Float64},
		{Name: ColCoherence, Type: arrow.PrimitiveTypes.Float64},
		{Name: ColShell, Type: arrow.PrimitiveTypes.Int32},
		{Name: ColRadius, Type: arrow.PrimitiveTypes.Float64},
		{Name: ColOutlier, Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
}

// BLTArrow returns the schema of the Arrow IPC files Meta's BLT trainer reads
// as preprocessed entropies (ArrowFileIterator): non-null sample_id and text,
// and entropies as list<float16>, one per token of [BOS, bytes…, EOS].
func BLTArrow() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: ColSampleID, Type: arrow.BinaryTypes.String},
		{Name: ColText, Type: arrow.BinaryTypes.String},
		{Name: ColEntropies, Type: arrow.ListOf(arrow.FixedWidthTypes.Float16)},
	}, nil)
}

// TokenToByte maps token index t of a document of n bytes to its byte
// offset: BOS (t=0) → 0, byte token t → t-1, EOS (t=n+1) → n.
func TokenToByte(t, n int) int {
	switch {
	case t <= 0:
		return 0
	case t > n:
		return n
	default:
		return t - 1
	}
}

// PatchBytes returns the byte range [offset, offset+length) covered by the
// patch holding tokens [start, start+tokens) of a document of n bytes.
// Special tokens cover no bytes, so a patch holding only BOS or only EOS
// has length 0.
func PatchBytes(start, tokens, n int) (offset, length int) {
	offset = TokenToByte(start, n)
	return offset, TokenToByte(start+tokens, n) - offset
}

// PatchesParts is the number of patches/ files a split is written to. With
// embeddings a patch row carries dim float32s (3 KB at the real size), and
// one goroutine encoding one file kept ~70 k patches/s while a GPU scores
// several times that; a split's documents arrive one after another, so its
// patches are spread over several files encoded in parallel (the split's
// k-th document goes to file k mod PatchesParts). Without embeddings one
// file keeps up. The count is fixed, not per machine, so the output does
// not depend on where it was written.
func PatchesParts(embeddings bool) int {
	if embeddings {
		return 4
	}
	return 1
}

// PatchesPartName is the path, relative to the output, of a split's
// patches/ file k: part 0 is named like the split's other shards, part
// k > 0 adds ".k" before the extension.
func PatchesPartName(split string, k int) string {
	if k == 0 {
		return PatchesDir + "/" + split + ParquetExt
	}
	return PatchesDir + "/" + split + "." + strconv.Itoa(k) + ParquetExt
}

// PatchesPartOf returns the split and part of a patches/ file named by
// PatchesPartName (a path or a base name).
func PatchesPartOf(name string) (split string, k int) {
	base := strings.TrimSuffix(path.Base(name), ParquetExt)
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		if n, err := strconv.Atoi(base[i+1:]); err == nil && n > 0 {
			return base[:i], n
		}
	}
	return base, 0
}

// ComparePatchesFiles orders patches/ files by split, then part: the order
// in which the pipeline folds their patches into the statistics.
func ComparePatchesFiles(a, b string) int {
	sa, ka := PatchesPartOf(a)
	sb, kb := PatchesPartOf(b)
	if c := strings.Compare(sa, sb); c != 0 {
		return c
	}
	return ka - kb
}

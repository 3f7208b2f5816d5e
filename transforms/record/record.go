// Package record defines the elements that flow between bltpipe's stages.
// They are small on purpose: per-token hidden states never appear here (the
// patch stage pools them into per-patch vectors before emitting), so every
// element is at most a document's bytes, its per-token entropies and
// prominence, and one vector per patch.
//
// Index conventions: a document of n bytes has n+2 tokens [BOS, bytes…, EOS];
// Entropies and Prominence have n+2 entries; PatchLengths sum to n+2.
package record

import (
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Split)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Document)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Patch)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Scored)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*ShardInfo)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Tally)(nil)).Elem())
}

// Input formats of a split.
const (
	FormatText    = "text"    // the whole file is one document
	FormatJSONL   = "jsonl"   // one JSON object per line
	FormatParquet = "parquet" // one row per document
	// FormatRejected is a file the planner refused (unsafe name, symlink
	// leaving the input root, device, FIFO, unreadable footer, …): its
	// split yields one reject and no document.
	FormatRejected = "rejected"
)

// Split is a unit of input work with a stable identity: a whole file, a byte
// range of an uncompressed JSONL file, or a range of Parquet row groups.
// Every output shard is named after the split that produced it.
type Split struct {
	ID      string // "part-<ordinal %05d>-<first 8 hex of sha256(Key)>"
	Ordinal int64  // position in the sorted list of all splits of the run
	Key     string // canonical description: "<path>#<format>[<start>,<end>)"
	Path    string // file path or URI
	Format  string // FormatText, FormatJSONL or FormatParquet
	// Compression of a JSONL file: "", "gzip" or "zstd" (whole file, one split).
	Compression string
	// Start and End delimit the split: bytes [Start, End) for JSONL (a line
	// belongs to the split holding its first byte), row groups [Start, End)
	// for Parquet, unused (0, size) for text files.
	Start, End int64
	// RejectClass and RejectReason are set for FormatRejected splits.
	RejectClass, RejectReason string
}

// Document is one input document.
type Document struct {
	Split   string // Split.ID of the split it came from
	Ordinal int64  // Split.Ordinal
	// Seq orders documents inside a split and is stable across runs: the
	// byte offset of the line for JSONL, the row index in the file for
	// Parquet, 0 for a text file.
	Seq    int64
	ID     string // doc_id (see docs/SCHEMA.md for how it is chosen)
	Source string // path or URI of the input file
	// Modality is "text", "bytes" or a modality named by the detector; empty
	// until the pretokenize stage sets it.
	Modality string
	Data     []byte   // the document's bytes, exactly as modelled
	Keep     []string // kept metadata columns, in --keep-columns order
	KeepNull []bool   // KeepNull[i]: column i was absent or null
	// Origin places the document in its source's hypergraph (trunk, view,
	// segments); set by the pretokenize stage. It stays small: a few
	// strings and one span per segment, never per-token arrays.
	Origin Origin
	// Reject is set (Stage != "") when the document, or the piece of input
	// it stands for, was left out. Such an element carries no Data; it
	// travels through the same fused per-split path as the documents, every
	// stage passes it on untouched, and the writer puts it in rejects/
	// (package transforms/reject) instead of the data tables.
	Reject Reject
}

// Reject says why an input was left out and where.
type Reject struct {
	Stage   string // "read", "pretokenize", "limits", "patch" or "write"
	Class   string // short machine-readable class, e.g. "bad_json", "too_large"
	Message string // human-readable reason
	Head    []byte // the first bytes of the offending input (bounded)
	Size    int64  // size of the offending input in bytes, -1 if unknown
}

// Rejected reports whether the element is a reject.
func (d Document) Rejected() bool { return d.Reject.Stage != "" }

// Tally counts input units a stage saw for one split, so the sink can check
// documents + rejected = seen: the read stage reports the records it read
// (lines, rows, files, refused files); a stage that turns one element into
// k elements reports k-1 for it.
type Tally struct {
	Split string
	Stage string
	Seen  int64
}

// Origin says where a document's bytes come from. A source (an input file
// or an archive member) is a trunk; each way of reading it is a view, and a
// view's bytes are one document; segments are byte ranges of that view.
type Origin struct {
	// Trunks is the chain from the input file (Trunks[0]) down to the
	// archive member holding this view; empty when the stage did not
	// look at the source (then Source alone names the trunk).
	Trunks []Trunk
	View   string // view name: "text", "code", "pixels", "audio", "frames", "raw", "image:<n>", …
	// ViewIndex is the view's position among all views of the input file
	// (the k of "<doc_id>#<k>" when the file has several views).
	ViewIndex int64
	ViewMeta  string // JSON object describing the view, or ""
	Segments  []Span // in order, non-overlapping, inside [0, len(Data))
	// Reject is why the segmenter rejected the source ("" if it did not);
	// the document then holds the fallback reading (basic text/bytes).
	Reject string
	// RejectBug marks a reject recovered from a panic (a decoder bug).
	RejectBug bool
	// MemberRejects lists archive members left out, as "path: reason";
	// carried by the first document of the input file only.
	MemberRejects []string
}

// Trunk identifies one source.
type Trunk struct {
	Member string // path inside the input file ("/"-joined across nesting); "" for the file itself
	Kind   string // detected format ("png", "zip", "text", …)
	Size   int64  // bytes
	SHA256 string // hex
}

// Span is one segment of a view: bytes [Start, End) of the document.
type Span struct {
	Label      string
	Start, End int64
	Meta       string // JSON object, or ""
}

// Patch summarises one patch of a scored document.
type Patch struct {
	TokenOffset int32 // first token (0 = BOS)
	Tokens      int32 // number of tokens
	ByteOffset  int64 // see schemas.PatchBytes
	ByteLength  int64
	// Summaries over the patch's tokens (entropies in nats); NaN when no
	// model ran (Scored.ModelFree), written as nulls.
	MeanEntropy, MaxEntropy       float32
	MeanProminence, MaxProminence float32
	// Embedding is the mean pre-norm hidden state over the patch's tokens
	// ([dim]); nil with --embeddings none.
	Embedding []float32
}

// Scored is a document after the model pass.
type Scored struct {
	Doc Document
	// Entropies and Prominence are nil when no model ran (--model none,
	// ModelFree); otherwise they hold one value per token.
	Entropies    []float32 // [n+2] nats
	Prominence   []float32 // [n+2] L2 norm of the pre-norm hidden state
	PatchLengths []int32   // sums to n+2
	// Pooled holds the patch embeddings back to back ([len(PatchLengths)·Dim]),
	// set by the patch stage when embeddings are on; the embed stage moves
	// them into Patches.
	Pooled  []float32
	Dim     int32
	Patches []Patch // set by the embed stage
}

// ModelFree reports whether the document was patched without a model: it
// has no entropies, prominence or embeddings.
func (s Scored) ModelFree() bool { return s.Entropies == nil && s.Prominence == nil }

// ShardInfo describes one committed output file.
type ShardInfo struct {
	Table  string // "documents", "patches", "hypergraph", "blt"
	Path   string // relative to the output directory, slash-separated
	Split  string // Split.ID
	Rows   int64  // rows (documents, patches, leaves or samples)
	Bytes  int64
	SHA256 string
}

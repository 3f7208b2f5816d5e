package schemas

import "github.com/apache/arrow-go/v18/arrow"

// RejectsDir holds the dead-letter table: one Parquet shard per input split
// that rejected anything, named like the other tables' shards.
const RejectsDir = "rejects"

// RejectHeadBytes bounds the head column: the first bytes of the offending
// input, enough to recognise it without storing it.
const RejectHeadBytes = 256

// Column names of the rejects table (doc_id and source as in documents).
const (
	ColSeq        = "seq"
	ColStage      = "stage"
	ColErrorClass = "error_class"
	ColMessage    = "message"
	ColInputBytes = "input_bytes"
	ColHead       = "head"
)

// Reject stages, in pipeline order.
const (
	StageRead        = "read"
	StagePretokenize = "pretokenize"
	StageLimits      = "limits"
	StagePatch       = "patch"
	StageWrite       = "write"
)

// RejectStages lists the stages that may reject, in pipeline order.
var RejectStages = []string{StageRead, StagePretokenize, StageLimits, StagePatch, StageWrite}

// Rejects returns the schema of rejects/*.parquet: one row per rejected
// input (a line, a row, a file, an archive member, a document too large…).
// doc_id is null when the input had no id yet (a line that is not JSON);
// source is the input file, with any control characters and invalid UTF-8
// quoted; head holds at most RejectHeadBytes bytes; input_bytes is the
// offending input's size, null when unknown.
func Rejects() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: ColDocID, Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: ColSource, Type: arrow.BinaryTypes.String},
		{Name: ColSeq, Type: arrow.PrimitiveTypes.Int64},
		{Name: ColStage, Type: arrow.BinaryTypes.String},
		{Name: ColErrorClass, Type: arrow.BinaryTypes.String},
		{Name: ColMessage, Type: arrow.BinaryTypes.String},
		{Name: ColInputBytes, Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: ColHead, Type: arrow.BinaryTypes.Binary},
	}, nil)
}

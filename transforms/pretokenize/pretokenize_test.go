package pretokenize

import (
	"bytes"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/bltpipe/bltpipe/transforms/record"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() {
	register.Function1x1(idAndModality)
	Register("halves", halves{})
}

func idAndModality(d record.Document) string { return d.ID + "=" + d.Modality }

// halves cuts a document in two: a segmenter with more than one segment.
type halves struct{}

func (halves) Segment(b []byte, _ string) ([]Segment, error) {
	return []Segment{{Modality: "text", Data: b[:len(b)/2]}, {Modality: "bytes", Data: b[len(b)/2:]}}, nil
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{[]byte("hello"), Text},
		{[]byte("été"), Text},
		{[]byte(""), Text},
		{[]byte{0xff, 0xfe}, Bytes},
		{[]byte("a\x00b"), Bytes},
		{bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 3), Bytes},
	} {
		if got := Classify(tc.in); got != tc.want {
			t.Errorf("Classify(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if _, _, err := Lookup("nope"); err == nil {
		t.Error("unknown segmenter: no error")
	}
}

func TestPretokenizeOnPrism(t *testing.T) {
	in := []record.Document{
		{ID: "t", Data: []byte("plain text")},
		{ID: "b", Data: []byte{0, 1, 2, 0xff}},
		{ID: "j", Data: []byte("from jsonl"), Modality: "text"},
	}
	p, s := beam.NewPipelineWithRoot()
	col := beam.CreateList(s, in)
	passert.Equals(s, beam.ParDo(s, idAndModality, Pretokenize(s, col, Auto)), "t=text", "b=bytes", "j=text")
	passert.Equals(s, beam.ParDo(s, idAndModality, Pretokenize(s, col, "halves")),
		"t#0=text", "t#1=bytes", "b#0=text", "b#1=bytes", "j#0=text", "j#1=bytes")
	ptest.RunAndValidate(t, p)
}

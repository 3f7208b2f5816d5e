package modality

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/bltpipe/bltpipe/transforms/pretokenize"
	"github.com/bltpipe/bltpipe/transforms/record"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() {
	register.Function1x1(idModalityLen)
}

func idModalityLen(d record.Document) string {
	return d.ID + "=" + d.Modality + ":" + itoa(len(d.Data))
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestSegmenter(t *testing.T) {
	s, name, err := pretokenize.Lookup(pretokenize.Auto)
	if err != nil || name != "modality" {
		t.Fatalf("Auto resolves to %q (%v), want modality", name, err)
	}
	png := encode(t, "png", testImage(20, 20)) // 2×2 patches of 16: 3072 bytes
	zip := makeZip(t, entry{name: "a.txt", body: "hi\n"}, entry{name: "b.png", body: string(png)}, entry{name: "../x", body: "no"})
	for _, tc := range []struct {
		name string
		data []byte
		hint string
		want []string
	}{
		{"text", []byte("hello\n\nworld"), "", []string{"text:12"}},
		{"hinted", []byte{0x89, 'P', 'N', 'G'}, "text", []string{"text:4"}},
		{"png", png, "", []string{"image:3072"}},
		{"zip", zip, "", []string{"text:3", "image:3072"}},
		{"corrupt png falls back", png[:40], "", []string{"bytes:40"}},
	} {
		segs, err := s.Segment(tc.data, tc.hint)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []string
		for _, sg := range segs {
			got = append(got, sg.Modality+":"+itoa(len(sg.Data)))
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			}
		}
	}
	if _, err := (Segmenter{Strict: true}).Segment(png[:40], ""); err == nil {
		t.Error("strict segmenter accepted a corrupt PNG")
	}
}

// The registered segmenter runs in the pipeline's pretokenize stage.
func TestSegmenterOnPrism(t *testing.T) {
	png := encode(t, "png", testImage(20, 20))
	in := []record.Document{
		{ID: "t", Data: []byte("plain text")},
		{ID: "i", Data: png},
		{ID: "z", Data: makeZip(t, entry{name: "a.txt", body: "hi\n"}, entry{name: "b.png", body: string(png)})},
	}
	p, s := beam.NewPipelineWithRoot()
	out := pretokenize.Pretokenize(s, beam.CreateList(s, in), pretokenize.Auto)
	passert.Equals(s, beam.ParDo(s, idModalityLen, out), "t=text:10", "i=image:3072", "z#0=text:3", "z#1=image:3072")
	ptest.RunAndValidate(t, p)
}

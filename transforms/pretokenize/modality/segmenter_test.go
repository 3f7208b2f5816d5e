package modality

import (
	"strings"
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

// SegmentSource places every view in its trunk chain (input file → archive
// member), carries the view's segments as leaves, and reports rejects and
// left-out members instead of hiding them.
func TestSegmentSource(t *testing.T) {
	png := encode(t, "png", testImage(20, 20))
	zip := makeZip(t, entry{name: "a.txt", body: "hi\n\nthere\n"}, entry{name: "d/b.png", body: string(png)}, entry{name: "../x", body: "no"})
	r, err := Segmenter{}.SegmentSource("z.zip", zip, "")
	if err != nil || r.Reject != nil {
		t.Fatalf("zip: %v %v", err, r.Reject)
	}
	if len(r.Segments) != 2 || len(r.MemberRejects) != 1 || !strings.HasPrefix(r.MemberRejects[0], "../x: ") {
		t.Fatalf("zip: %d segments, member rejects %q", len(r.Segments), r.MemberRejects)
	}
	for i, want := range []struct{ member, kind, view string }{{"a.txt", "text", "text"}, {"d/b.png", "png", "pixels"}} {
		sg := r.Segments[i]
		if len(sg.Trunks) != 2 || sg.Trunks[0].Kind != "zip" || sg.Trunks[0].Size != int64(len(zip)) || sg.Trunks[0].Member != "" {
			t.Fatalf("view %d: trunks %+v", i, sg.Trunks)
		}
		if tr := sg.Trunks[1]; tr.Member != want.member || tr.Kind != want.kind || tr.SHA256 == "" || sg.View != want.view {
			t.Errorf("view %d: trunk %+v view %q, want %+v", i, tr, sg.View, want)
		}
		end := 0
		for _, l := range sg.Leaves {
			if l.Start < end || l.End > len(sg.Data) {
				t.Errorf("view %d: leaf %+v out of order", i, l)
			}
			end = l.End
		}
		if len(sg.Leaves) == 0 {
			t.Errorf("view %d: no leaves", i)
		}
	}
	if r.Segments[1].Trunks[1].Size != int64(len(png)) {
		t.Errorf("png member size %d, want %d", r.Segments[1].Trunks[1].Size, len(png))
	}

	r, err = Segmenter{}.SegmentSource("bad.png", png[:40], "")
	if err != nil || r.Reject == nil || r.Bug || len(r.Segments) != 1 || r.Segments[0].Modality != "bytes" || r.Segments[0].Trunks[0].Kind != "png" {
		t.Errorf("corrupt png: err %v reject %v bug %v segments %d", err, r.Reject, r.Bug, len(r.Segments))
	}
	if _, err := (Segmenter{Strict: true}).SegmentSource("bad.png", png[:40], ""); err == nil {
		t.Error("strict: corrupt png accepted")
	}
}

// Configure reads Options as JSON and validates them; the configured
// segmenter uses them.
func TestConfigure(t *testing.T) {
	cfg, err := Options{PDFMode: PDFMultiview, ImagePatch: 8}.Config()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Segmenter{}.Configure(cfg)
	if err != nil {
		t.Fatal(err)
	}
	png := encode(t, "png", testImage(16, 16))
	r, err := s.(Segmenter).SegmentSource("x.png", png, "")
	if err != nil || len(r.Segments) != 1 || len(r.Segments[0].Leaves) < 1 || r.Segments[0].ViewMeta["patch"] != 8 {
		t.Errorf("image patch 8: %v, %+v", err, r.Segments[0].ViewMeta)
	}
	for _, bad := range []string{`{"PDFMode":"pages"}`, `{"VideoEvery":-1}`, `{"Nope":1}`, `{"Limits":{"MaxDepth":-2}}`} {
		if _, err := (Segmenter{}).Configure(bad); err == nil {
			t.Errorf("Configure(%s) accepted", bad)
		}
	}
}

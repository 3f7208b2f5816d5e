package pipelines

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/schemas"
	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// gs:// input and output against an in-process fake GCS server: the same
// corpus read from and written to a bucket gives the same documents and
// patches as the local run (apart from source paths).
func TestEndToEndOnFakeGCS(t *testing.T) {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL(), "http://"))
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "corpus"})

	c := writeCorpus(t)
	// Upload everything but the plain text files (their doc_id is their path).
	var inputs []string
	for _, sub := range []string{"jsonl", "fineweb"} {
		files, _ := filepath.Glob(filepath.Join(c.dir, sub, "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "corpus", Name: "in/" + sub + "/" + filepath.Base(f)}, Content: b})
		}
		inputs = append(inputs, "gs://corpus/in/"+sub+"/*")
	}
	for id := range c.texts {
		if strings.HasPrefix(id, c.dir) {
			delete(c.texts, id)
		}
	}

	o := testOptions(t, c, "gs://corpus/out")
	o.Inputs = inputs
	runPipeline(t, o)

	// A rerun resumes from the completion records in the bucket: a split
	// whose record is gone is read again, the others are not, and the
	// manifest and statistics are the same bytes.
	before := map[string][]byte{}
	for _, p := range []string{schemas.ManifestFile, schemas.StatsFile} {
		obj, err := srv.GetObject("corpus", "out/"+p)
		if err != nil {
			t.Fatal(err)
		}
		before[p] = obj.Content
	}
	records, _, err := srv.ListObjects("corpus", "out/"+schemas.SplitsDir+"/", "", false)
	if err != nil || len(records) < 3 {
		t.Fatalf("%d completion records in the bucket (%v)", len(records), err)
	}
	if err := srv.Client().Bucket("corpus").Object(records[1].Name).Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cnt := runCounted(t, o); cnt["splits"] != 1 || cnt["splits_resumed"] != int64(len(records)-1) {
		t.Errorf("rerun read %d splits and resumed %d; want 1 and %d", cnt["splits"], cnt["splits_resumed"], len(records)-1)
	}
	for p, b := range before {
		obj, err := srv.GetObject("corpus", "out/"+p)
		if err != nil || !bytes.Equal(obj.Content, b) {
			t.Errorf("%s differs after the resumed rerun (%v)", p, err)
		}
	}

	// Download the outputs and check them like a local run.
	local := t.TempDir()
	objs, _, err := srv.ListObjects("corpus", "out/", "", false)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, a := range objs {
		obj, err := srv.GetObject("corpus", a.Name)
		if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(a.Name, "out/")
		names[rel] = true
		if strings.Contains(rel, "bltpipe-tmp") {
			t.Errorf("temporary object left: %s", rel)
		}
		p := filepath.Join(local, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, obj.Content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{schemas.ManifestFile, schemas.StatsFile} {
		if !names[want] {
			t.Errorf("missing gs://corpus/out/%s (have %d objects)", want, len(names))
		}
	}
	o.Output = local
	checkOutputs(t, c, o)
	docs := readDocs(t, local, nil)
	for _, d := range docs {
		if !strings.HasPrefix(d.Source, "gs://corpus/in/") {
			t.Fatalf("source %q is not the gs:// URI", d.Source)
		}
	}
}

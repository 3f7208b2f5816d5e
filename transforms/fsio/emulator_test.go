package fsio

import (
	"context"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// A process that moves from one storage emulator to another (tests, each
// with its own fake GCS) reads from the current one: the cached gs://
// filesystem and client are per STORAGE_EMULATOR_HOST, not bound to the
// first emulator for good.
func TestGCSClientFollowsEmulator(t *testing.T) {
	ctx := context.Background()
	for _, content := range []string{"first emulator", "second emulator"} {
		srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", PublicHost: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL(), "http://"))
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "b", Name: "dir/x.txt"}, Content: []byte(content)})
		files, err := Expand(ctx, "gs://b/dir/*")
		if err != nil || len(files) != 1 || files[0] != "gs://b/dir/x.txt" {
			t.Fatalf("%s: Expand = %v, %v", content, files, err)
		}
		if b, err := ReadFile(ctx, "gs://b/dir/x.txt"); err != nil || string(b) != content {
			t.Errorf("ReadFile = %q, %v; want %q", b, err, content)
		}
		ra, err := OpenRandom(ctx, "gs://b/dir/x.txt")
		if err != nil {
			t.Fatalf("%s: OpenRandom: %v", content, err)
		}
		buf := make([]byte, len(content))
		if _, err := ra.ReadAt(buf, 0); err != nil || string(buf) != content {
			t.Errorf("ReadAt = %q, %v; want %q", buf, err, content)
		}
		ra.Close()
		srv.Stop()
	}
}

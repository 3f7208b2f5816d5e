package modality

import (
	"bytes"
	"debug/macho"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	built     map[string][]byte
	buildErr  error
)

// crossBuilt builds a tiny program for windows/amd64, darwin/amd64 and
// darwin/arm64 once per test run.
func crossBuilt(t *testing.T) map[string][]byte {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot build PE and Mach-O fixtures")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "modality-exec")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		prog := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hi\") }\n"
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(prog), 0o644); err != nil {
			buildErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module tiny\n\ngo 1.21\n"), 0o644); err != nil {
			buildErr = err
			return
		}
		built = map[string][]byte{}
		for _, target := range []string{"windows/amd64", "darwin/amd64", "darwin/arm64"} {
			goos, goarch, _ := cut(target)
			out := filepath.Join(dir, goos+"-"+goarch)
			cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = &buildError{target, string(b), err}
				return
			}
			built[target], buildErr = os.ReadFile(out)
			if buildErr != nil {
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

type buildError struct {
	target, out string
	err         error
}

func (e *buildError) Error() string {
	return "go build " + e.target + ": " + e.err.Error() + "\n" + e.out
}

func cut(s string) (string, string, bool) {
	for i := range s {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// fat joins thin Mach-O files into a universal binary (slices aligned to
// 16 KiB).
func fat(t *testing.T, thin ...[]byte) []byte {
	const align = 1 << 14
	hdr := make([]byte, 8+20*len(thin))
	binary.BigEndian.PutUint32(hdr, 0xcafebabe)
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(thin)))
	out := hdr
	for i, b := range thin {
		f, err := macho.NewFile(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		for len(out)%align != 0 {
			out = append(out, 0)
		}
		e := hdr[8+20*i:]
		binary.BigEndian.PutUint32(e, uint32(f.Cpu))
		binary.BigEndian.PutUint32(e[4:], f.SubCpu)
		binary.BigEndian.PutUint32(e[8:], uint32(len(out)))
		binary.BigEndian.PutUint32(e[12:], uint32(len(b)))
		binary.BigEndian.PutUint32(e[16:], 14)
		copy(out, hdr)
		out = append(out, b...)
	}
	return out
}

func sectionNames(v View) map[string]int {
	out := map[string]int{}
	for _, s := range v.Segments {
		if s.Label == "section" {
			out[s.Meta["name"].(string)]++
		}
	}
	return out
}

func TestExecutables(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	elfData, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bins := crossBuilt(t)
	for _, tc := range []struct {
		name, kind string
		data       []byte
		sections   []string
		arches     int
	}{
		{"elf", "elf", elfData, []string{".text", ".rodata"}, 1},
		{"pe", "pe", bins["windows/amd64"], []string{".text", ".rdata"}, 1},
		{"macho", "macho", bins["darwin/arm64"], []string{"__text", "__gopclntab"}, 1},
		{"macho-fat", "macho-fat", fat(t, bins["darwin/amd64"], bins["darwin/arm64"]), []string{"__text", "__gopclntab"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := mustExtract(t, "", tc.data, Options{})
			if src.Kind != tc.kind {
				t.Fatalf("kind %s, want %s", src.Kind, tc.kind)
			}
			v := view(t, src, "raw")
			checkCover(t, v)
			names := sectionNames(v)
			for _, s := range tc.sections {
				if names[s] != tc.arches {
					t.Errorf("section %s seen %d times, want %d (sections %v)", s, names[s], tc.arches, names)
				}
			}
			for _, s := range v.Segments {
				if s.Label != "section" {
					continue
				}
				for _, k := range []string{"name", "type", "flags", "addr", "size", "arch"} {
					if _, ok := s.Meta[k]; !ok {
						t.Fatalf("section %v lacks %s", s.Meta["name"], k)
					}
				}
			}
		})
	}
}

func TestAr(t *testing.T) {
	data := fixture(t, "lib.a")
	src := mustExtract(t, "lib.a", data, Options{})
	v := view(t, src, "raw")
	checkCover(t, v)
	var members []string
	for _, s := range v.Segments {
		if s.Label == "member" {
			members = append(members, s.Meta["name"].(string)+"="+string(v.Data[s.Start:s.End]))
		}
	}
	want := []string{"//=a_member_with_a_long_name.txt/\n\n", "a.txt=alpha\n", "b.txt=odd\n", "a_member_with_a_long_name.txt=a member with a long file name\n"}
	if len(members) != len(want) {
		t.Fatalf("members %q, want %q", members, want)
	}
	for i := range want {
		if members[i] != want[i] {
			t.Errorf("member %d = %q, want %q", i, members[i], want[i])
		}
	}
}

// Unknown binaries are cut into chunks that cover them exactly.
func TestUnknownBinary(t *testing.T) {
	data := make([]byte, 10000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	data[0] = 0
	src := mustExtract(t, "", data, Options{ChunkSize: 4096})
	v := view(t, src, "raw")
	checkCover(t, v)
	if src.Kind != "binary" || len(v.Segments) != 3 || v.Segments[2].Len() != 10000-8192 {
		t.Errorf("kind %s, %d segments", src.Kind, len(v.Segments))
	}
}

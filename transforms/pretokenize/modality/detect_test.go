package modality

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func pad(b []byte, n int) []byte { return append(b, make([]byte, n)...) }

func peHeader() []byte {
	b := make([]byte, 0x80)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], 0x40)
	copy(b[0x40:], "PE\x00\x00")
	return b
}

func tarHeader(magic bool) []byte {
	h := make([]byte, 512)
	copy(h, "file.txt")
	copy(h[100:], "0000644\x00")
	copy(h[124:], "00000000000\x00")
	h[156] = '0'
	if magic {
		copy(h[257:], "ustar\x0000")
	}
	var sum int
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int(c)
	}
	copy(h[148:], []byte(string(octal(sum))+"\x00 "))
	return h
}

func octal(n int) []byte {
	s := []byte("000000")
	for i := 5; i >= 0; i-- {
		s[i] = byte('0' + n%8)
		n /= 8
	}
	return s
}

// mp3Frames is two MPEG-1 Layer III frame headers (128 kbit/s, 44.1 kHz:
// 417 bytes each) with zero bodies.
func mp3Frames() []byte {
	f := make([]byte, 417)
	copy(f, "\xff\xfb\x90\x00")
	return append(append([]byte{}, f...), f...)
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		data []byte
		kind string
		mod  string
		by   string
	}{
		{"png", "", pad([]byte("\x89PNG\r\n\x1a\n"), 8), "png", ModImage, "magic"},
		{"jpeg", "", pad([]byte("\xff\xd8\xff\xe0"), 8), "jpeg", ModImage, "magic"},
		{"gif87", "", pad([]byte("GIF87a"), 8), "gif", ModImage, "magic"},
		{"gif89", "", pad([]byte("GIF89a"), 8), "gif", ModImage, "magic"},
		{"bmp", "", pad([]byte("BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00"), 8), "bmp", ModImage, "magic"},
		{"tiff-le", "", pad([]byte("II*\x00"), 8), "tiff", ModImage, "magic"},
		{"tiff-be", "", pad([]byte("MM\x00*"), 8), "tiff", ModImage, "magic"},
		{"webp", "", pad([]byte("RIFF\x00\x00\x00\x00WEBPVP8 "), 8), "webp", ModImage, "magic"},
		{"pdf", "", []byte("%PDF-1.7\n"), "pdf", ModDocument, "magic"},
		{"wav", "", pad([]byte("RIFF\x00\x00\x00\x00WAVEfmt "), 8), "wav", ModAudio, "magic"},
		{"mp3-id3", "", pad([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), 8), "mp3", ModAudio, "magic"},
		{"mp3-sync", "", mp3Frames(), "mp3", ModAudio, "magic"},
		{"flac", "", pad([]byte("fLaC"), 8), "flac", ModAudio, "magic"},
		{"ogg", "", pad([]byte("OggS"), 8), "ogg", ModAudio, "magic"},
		{"mp4", "", pad([]byte("\x00\x00\x00\x18ftypisom"), 8), "mp4", ModVideo, "magic"},
		{"mov", "", pad([]byte("\x00\x00\x00\x08wide"), 8), "mp4", ModVideo, "magic"},
		{"mkv", "", pad([]byte("\x1a\x45\xdf\xa3"), 8), "mkv", ModVideo, "magic"},
		{"elf", "", pad([]byte("\x7fELF\x02\x01\x01"), 8), "elf", ModExecutable, "magic"},
		{"pe", "", peHeader(), "pe", ModExecutable, "magic"},
		{"macho32", "", pad([]byte("\xfe\xed\xfa\xce"), 8), "macho", ModExecutable, "magic"},
		{"macho64", "", pad([]byte("\xcf\xfa\xed\xfe"), 8), "macho", ModExecutable, "magic"},
		{"macho-fat", "", pad([]byte("\xca\xfe\xba\xbe\x00\x00\x00\x02"), 8), "macho-fat", ModExecutable, "magic"},
		{"ar", "", pad([]byte("!<arch>\n"), 8), "ar", ModExecutable, "magic"},
		{"zip", "", pad([]byte("PK\x03\x04"), 8), "zip", ModArchive, "magic"},
		{"zip-empty", "", pad([]byte("PK\x05\x06"), 18), "zip", ModArchive, "magic"},
		{"gzip", "", pad([]byte("\x1f\x8b\x08"), 8), "gzip", ModArchive, "magic"},
		{"bzip2", "", pad([]byte("BZh9"), 8), "bzip2", ModArchive, "magic"},
		{"xz", "", pad([]byte("\xfd7zXZ\x00"), 8), "xz", ModArchive, "magic"},
		{"zstd", "", pad([]byte("\x28\xb5\x2f\xfd"), 8), "zstd", ModArchive, "magic"},
		{"tar-ustar", "", tarHeader(true), "tar", ModArchive, "magic"},
		{"tar-v7", "", tarHeader(false), "tar", ModArchive, "magic"},

		// Not fooled: a Java class file shares the fat Mach-O magic; "MZ"
		// without a PE header, "BM" without a DIB header are text.
		{"java-class", "", pad([]byte("\xca\xfe\xba\xbe\x00\x00\x00\x34"), 8), "binary", ModBytes, "sniff"},
		{"mz-text", "", []byte("MZ is not a PE file"), "text", ModText, "sniff"},
		{"bm-text", "", []byte("BM words and more words here"), "text", ModText, "sniff"},
		{"utf16le-not-mp3", "", []byte("\xff\xfeH\x00i\x00"), "utf16", ModText, "sniff"},

		// Extension when no magic matches.
		{"ext-go", "main.go", []byte("package main\n"), "go", ModCode, "extension"},
		{"ext-py", "a/b.py", []byte("x = 1\n"), "python", ModCode, "extension"},
		{"ext-ts", "x.TS", []byte("let a = 1\n"), "typescript", ModCode, "extension"},
		{"ext-md", "README.md", []byte("# hi\n"), "text", ModText, "extension"},
		{"ext-broken-png", "x.png", []byte("not really"), "png", ModImage, "extension"},
		{"ext-tar", "x.tar", make([]byte, 1024), "tar", ModArchive, "extension"},
		{"ext-text-on-binary", "x.txt", []byte{0, 1, 2, 3}, "binary", ModBytes, "sniff"},

		// Sniffing.
		{"utf8", "", []byte("plain prose\n\nsecond paragraph"), "text", ModText, "sniff"},
		{"empty", "", nil, "text", ModText, "sniff"},
		{"utf16be", "", []byte("\xfe\xff\x00H\x00i"), "utf16", ModText, "sniff"},
		{"shebang-py", "", []byte("#!/usr/bin/env python3\nprint(1)\n"), "python", ModCode, "sniff"},
		{"shebang-sh", "", []byte("#!/bin/sh\necho hi\n"), "shell", ModCode, "sniff"},
		{"shebang-node", "", []byte("#!/usr/bin/node\nconsole.log(1)\n"), "javascript", ModCode, "sniff"},
		{"go-sniff", "", []byte("package x\n\nfunc F() {}\n"), "go", ModCode, "sniff"},
		{"c-sniff", "", []byte("#include <stdio.h>\nint main(void) { return 0; }\n"), "c", ModCode, "sniff"},
		{"nul-binary", "", []byte("abc\x00def"), "binary", ModBytes, "sniff"},
		{"invalid-utf8", "", []byte("abc\xc3\x28"), "binary", ModBytes, "sniff"},
		{"control-bytes", "", bytes.Repeat([]byte("\x01\x02a"), 10), "binary", ModBytes, "sniff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Detect(tc.file, tc.data)
			want := Format{tc.kind, tc.mod, tc.by}
			if got != want {
				t.Errorf("Detect(%q, %q…) = %+v, want %+v", tc.file, tc.data[:min(len(tc.data), 12)], got, want)
			}
		})
	}
}

// Every magic entry is exercised by TestDetect.
func TestDetectTableComplete(t *testing.T) {
	kinds := map[string]bool{}
	for _, m := range magics {
		kinds[m.kind] = true
	}
	for _, k := range []string{"png", "jpeg", "gif", "bmp", "tiff", "webp", "pdf", "wav", "mp3", "flac", "ogg",
		"mp4", "mkv", "elf", "pe", "macho", "macho-fat", "ar", "zip", "gzip", "bzip2", "xz", "zstd", "tar"} {
		if !kinds[k] {
			t.Errorf("no magic for %s", k)
		}
		delete(kinds, k)
	}
	for k := range kinds {
		t.Errorf("magic %s has no test", k)
	}
}

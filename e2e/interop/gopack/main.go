// gopack writes a model artifact with a real producer's own Go packaging library into a
// (plain-HTTP, loopback) registry, so the interop tests see the bytes those tools write.
//
//	gopack dmr docker|cncf MODEL_DIR HOST/REPO:TAG   Docker Model Runner's pkg/distribution
//	gopack ollama MODEL.gguf HOST/REPO:TAG           Ollama's manifest package (the layout
//	                                                  `ollama create` keeps and `ollama push` sends)
//
// It prints the pushed manifest's digest. Built by e2e/oci/build_gopack.sh.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/model-runner/pkg/distribution/builder"
	"github.com/docker/model-runner/pkg/distribution/registry"
	"github.com/ollama/ollama/manifest"
	"github.com/ollama/ollama/types/model"
)

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: gopack dmr docker|cncf DIR REF | gopack ollama MODEL.gguf REF"))
	}
	var digest string
	var err error
	switch os.Args[1] {
	case "dmr":
		if len(os.Args) != 5 {
			fail(fmt.Errorf("usage: gopack dmr docker|cncf DIR REF"))
		}
		digest, err = packDMR(os.Args[2], os.Args[3], os.Args[4])
	case "ollama":
		if len(os.Args) != 4 {
			fail(fmt.Errorf("usage: gopack ollama MODEL.gguf REF"))
		}
		digest, err = packOllama(os.Args[2], os.Args[3])
	default:
		err = fmt.Errorf("unknown producer %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
	fmt.Println(digest)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gopack:", err)
	os.Exit(1)
}

// packDMR is what `docker model package --dir` does: builder.FromDirectory, then a push.
func packDMR(format, dir, ref string) (string, error) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // deterministic digests
	b, err := builder.FromDirectory(dir,
		builder.WithOutputFormat(builder.BuildFormat(format)), builder.WithCreatedTime(created))
	if err != nil {
		return "", err
	}
	target, err := registry.NewClient(registry.WithPlainHTTP(true)).NewTarget(ref)
	if err != nil {
		return "", err
	}
	if err := b.Build(context.Background(), target, io.Discard); err != nil {
		return "", err
	}
	host, repo, tag := splitRef(ref)
	return headDigest(host, repo, tag)
}

// packOllama stores a GGUF the way `ollama create` does (manifest.NewLayer for each blob,
// a types/model.ConfigV2 config, manifest.WriteManifest) under a private OLLAMA_MODELS,
// then pushes that manifest and its blobs as they are, like `ollama push`.
func packOllama(gguf, ref string) (string, error) {
	store, err := os.MkdirTemp("", "ollama-models-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(store)
	os.Setenv("OLLAMA_MODELS", store)
	contents := []struct{ mediaType, data string }{
		{"application/vnd.ollama.image.template", "{{ .Prompt }}"},
		{"application/vnd.ollama.image.params", `{"stop":["<|end|>"],"temperature":0.7}`},
		{"application/vnd.ollama.image.license", "Apache-2.0 (test model)\n"},
	}
	weights, err := os.Open(gguf)
	if err != nil {
		return "", err
	}
	defer weights.Close()
	first, err := manifest.NewLayer(weights, "application/vnd.ollama.image.model")
	if err != nil {
		return "", err
	}
	layers := []manifest.Layer{first}
	for _, c := range contents {
		layer, err := manifest.NewLayer(strings.NewReader(c.data), c.mediaType)
		if err != nil {
			return "", err
		}
		layers = append(layers, layer)
	}
	config := model.ConfigV2{ModelFormat: "gguf", ModelFamily: "llama", ModelFamilies: []string{"llama"},
		ModelType: "1M", FileType: "F32", Architecture: "amd64", OS: "linux"}
	config.RootFS.Type = "layers"
	for _, l := range layers {
		config.RootFS.DiffIDs = append(config.RootFS.DiffIDs, l.Digest)
	}
	raw, err := json.Marshal(config)
	if err != nil {
		return "", err
	}
	configLayer, err := manifest.NewLayer(bytes.NewReader(raw), "application/vnd.docker.container.image.v1+json")
	if err != nil {
		return "", err
	}
	host, repo, tag := splitRef(ref)
	name := model.ParseName("ollama.test/library/" + filepath.Base(repo) + ":" + tag)
	if err := manifest.WriteManifest(name, configLayer, layers); err != nil {
		return "", err
	}
	for _, l := range append([]manifest.Layer{configLayer}, layers...) {
		path, err := manifest.BlobsPath(l.Digest)
		if err != nil {
			return "", err
		}
		if err := pushBlob(host, repo, path); err != nil {
			return "", err
		}
	}
	path, err := manifest.PathForName(name)
	if err != nil {
		return "", err
	}
	document, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("http://%s/v2/%s/manifests/%s", host, repo, tag),
		bytes.NewReader(document))
	req.Header.Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
	if err := do(req, http.StatusCreated); err != nil {
		return "", err
	}
	sum := sha256.Sum256(document)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

func pushBlob(host, repo, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	resp, err := http.Post(fmt.Sprintf("http://%s/v2/%s/blobs/uploads/", host, repo), "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("start upload: %s", resp.Status)
	}
	location := resp.Header.Get("Location")
	if strings.HasPrefix(location, "/") {
		location = "http://" + host + location
	}
	sep := "?"
	if strings.Contains(location, "?") {
		sep = "&"
	}
	req, _ := http.NewRequest(http.MethodPut, location+sep+"digest=sha256:"+hex.EncodeToString(sum[:]),
		bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	return do(req, http.StatusCreated)
}

func headDigest(host, repo, tag string) (string, error) {
	req, _ := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", host, repo, tag), nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HEAD manifest: %s", resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest"), nil
}

func do(req *http.Request, want int) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s %s", req.Method, req.URL.Path, resp.Status, body)
	}
	return nil
}

// splitRef splits "host:port/repo/path:tag".
func splitRef(ref string) (host, repo, tag string) {
	host, rest, _ := strings.Cut(ref, "/")
	repo, tag = rest, "latest"
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		repo, tag = rest[:i], rest[i+1:]
	}
	return host, repo, tag
}

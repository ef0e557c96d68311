// Command oci-registry serves go-containerregistry's registry (the one behind
// `crane registry serve`) with the OCI 1.1 referrers API switched on, which the crane
// command leaves off. Blobs go to --disk; manifests stay in memory.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	address := flag.String("address", "127.0.0.1:5000", "address to listen on")
	disk := flag.String("disk", "", "directory for blobs (memory when empty)")
	flag.Parse()

	blobs := registry.NewInMemoryBlobHandler()
	if *disk != "" {
		blobs = registry.NewDiskBlobHandler(*disk)
	}
	server := &http.Server{
		Addr:              *address,
		ReadHeaderTimeout: 5 * time.Second,
		Handler: registry.New(
			registry.WithBlobHandler(blobs),
			registry.WithReferrersSupport(true),
		),
	}
	log.Printf("serving on %s (referrers API on)", *address)
	log.Fatal(server.ListenAndServe())
}

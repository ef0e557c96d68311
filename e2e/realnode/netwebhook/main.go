// A validating admission webhook for the real-node network test: it denies objects
// labelled deny=yes and names the pod that answered, so a test can see that the API
// server reached this pod through its Service. Stdlib only; TLS from /tls.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
)

type review struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Request    *request        `json:"request,omitempty"`
	Response   *map[string]any `json:"response,omitempty"`
}

type request struct {
	UID    string `json:"uid"`
	Object struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	} `json:"object"`
}

func main() {
	host, _ := os.Hostname()
	http.HandleFunc("/validate", func(w http.ResponseWriter, r *http.Request) {
		var in review
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Request == nil {
			http.Error(w, "bad AdmissionReview", http.StatusBadRequest)
			return
		}
		resp := map[string]any{"uid": in.Request.UID, "allowed": true}
		if in.Request.Object.Metadata.Labels["deny"] == "yes" {
			resp["allowed"] = false
			resp["status"] = map[string]any{"code": 403, "message": "denied by webhook pod " + host}
		}
		log.Printf("review %s allowed=%v", in.Request.UID, resp["allowed"])
		out := review{APIVersion: in.APIVersion, Kind: in.Kind, Response: &resp}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	log.Fatal(http.ListenAndServeTLS(":8443", "/tls/tls.crt", "/tls/tls.key", nil))
}

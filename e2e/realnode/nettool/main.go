// The real-node network tests' tool, static and stdlib only (busybox-static's wget
// crashes in a container without NSS libraries):
//
//	nettool serve            a validating admission webhook on :8443 (TLS from /tls) that
//	                         denies objects labelled deny=yes and names its pod;
//	nettool get URL [BODY]   GET (POST with BODY) and print the status and body; with the
//	                         pod's ServiceAccount token and CA when they are mounted.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount/"

func get(url string, body string) {
	cfg := &tls.Config{}
	if ca, err := os.ReadFile(saDir + "ca.crt"); err == nil {
		cfg.RootCAs = x509.NewCertPool()
		cfg.RootCAs.AppendCertsFromPEM(ca)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	method := http.MethodGet
	if body != "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token, err := os.ReadFile(saDir + "token"); err == nil {
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println("ERROR", err)
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	fmt.Printf("STATUS %d\n%s\n", resp.StatusCode, out)
}

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
	if len(os.Args) > 2 && os.Args[1] == "get" {
		get(os.Args[2], strings.Join(os.Args[3:], " "))
		return
	}
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

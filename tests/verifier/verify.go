// An independent verifier of tanpuhui's signed checkpoints and Merkle proofs, built only on
// the Go team's golang.org/x/mod/sumdb/note (C2SP signed notes) and sumdb/tlog (RFC 6962
// hashes, inclusion and tree proofs). It shares no code with the platform.
//
//	go run verify.go KEYFILE CHECKPOINT PROOF.json      inclusion proofs of one entry
//	go run verify.go KEYFILE CHECKPOINT CONSISTENCY.json --consistency
//
// KEYFILE holds the platform's verifier key (GET /v1/log/key), CHECKPOINT the trusted signed
// checkpoint (GET /v1/log/checkpoint). Exit 0 prints "ok"; anything else is a refusal.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type checkpointRef struct {
	Note string `json:"note"`
}

type lineProof struct {
	Shard           int64    `json:"shard"`
	LeafData        string   `json:"leaf_data"`
	Index           int64    `json:"index"`
	TreeSize        int64    `json:"tree_size"`
	ShardRoot       string   `json:"shard_root"`
	Inclusion       []string `json:"inclusion"`
	ShardCheckpoint *string  `json:"shard_checkpoint"`
	HeadLeafData    string   `json:"head_leaf_data"`
	HeadTreeSize    int64    `json:"head_tree_size"`
	HeadInclusion   []string `json:"head_inclusion"`
}

type inclusionProof struct {
	Checkpoint checkpointRef `json:"checkpoint"`
	Leaves     []lineProof   `json:"leaves"`
}

type shardConsistency struct {
	Shard   int64    `json:"shard"`
	OldSize int64    `json:"old_size"`
	OldRoot string   `json:"old_root"`
	NewSize int64    `json:"new_size"`
	NewRoot string   `json:"new_root"`
	Proof   []string `json:"proof"`
}

type consistencyProof struct {
	Old      checkpointRef      `json:"old"`
	New      checkpointRef      `json:"new"`
	OldHeads [][2]interface{}   `json:"old_heads"`
	NewHeads [][2]interface{}   `json:"new_heads"`
	Shards   []shardConsistency `json:"shards"`
}

type body struct {
	origin string
	size   int64
	root   tlog.Hash
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "refused: "+format+"\n", args...)
	os.Exit(1)
}

func hash(b64 string) tlog.Hash {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != tlog.HashSize {
		fail("not a base64 hash: %q", b64)
	}
	var h tlog.Hash
	copy(h[:], raw)
	return h
}

func hashes(list []string) []tlog.Hash {
	out := make([]tlog.Hash, len(list))
	for i, s := range list {
		out[i] = hash(s)
	}
	return out
}

// open checks a signed note against the platform key and parses its checkpoint body.
func open(text string, verifiers note.Verifiers) body {
	n, err := note.Open([]byte(text), verifiers)
	if err != nil {
		fail("signature: %v", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		fail("not a checkpoint: %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("tree size: %v", err)
	}
	return body{lines[0], size, hash(lines[2])}
}

func headLeaf(shard, size int64, root tlog.Hash) []byte {
	return []byte(fmt.Sprintf("tanpuhui/shard-head/v1\n%d %d %s\n", shard, size,
		base64.StdEncoding.EncodeToString(root[:])))
}

// mth is the RFC 6962 tree hash of record hashes, from tlog's node hash.
func mth(leaves []tlog.Hash) tlog.Hash {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return tlog.NodeHash(mth(leaves[:k]), mth(leaves[k:]))
}

func headRoot(heads [][2]interface{}) tlog.Hash {
	leaves := make([]tlog.Hash, len(heads))
	for k, h := range heads {
		size, _ := h[0].(float64)
		root, _ := h[1].(string)
		leaves[k] = tlog.RecordHash(headLeaf(int64(k), int64(size), hash(root)))
	}
	return mth(leaves)
}

func checkInclusion(trusted body, verifiers note.Verifiers, raw []byte) {
	var p inclusionProof
	if err := json.Unmarshal(raw, &p); err != nil {
		fail("proof JSON: %v", err)
	}
	signed := open(p.Checkpoint.Note, verifiers)
	if signed != trusted {
		fail("the proof is for checkpoint %d, not the trusted one (%d)", signed.size, trusted.size)
	}
	if len(p.Leaves) == 0 {
		fail("no leaves")
	}
	for _, l := range p.Leaves {
		root := hash(l.ShardRoot)
		leaf := tlog.RecordHash([]byte(l.LeafData))
		if err := tlog.CheckRecord(hashes(l.Inclusion), l.TreeSize, root, l.Index, leaf); err != nil {
			fail("leaf %d of shard %d: %v", l.Index, l.Shard, err)
		}
		head := headLeaf(l.Shard, l.TreeSize, root)
		if !bytes.Equal(head, []byte(l.HeadLeafData)) {
			fail("shard head leaf does not name the shard's root")
		}
		err := tlog.CheckRecord(hashes(l.HeadInclusion), l.HeadTreeSize, trusted.root, l.Shard,
			tlog.RecordHash(head))
		if err != nil {
			fail("shard %d head in the checkpoint: %v", l.Shard, err)
		}
		if l.ShardCheckpoint == nil {
			fail("shard %d has no signed checkpoint", l.Shard)
		}
		own := open(*l.ShardCheckpoint, verifiers)
		want := body{fmt.Sprintf("%s/shard/%d", trusted.origin, l.Shard), l.TreeSize, root}
		if own != want {
			fail("shard %d checkpoint does not sign its head", l.Shard)
		}
	}
}

func checkConsistency(trusted body, verifiers note.Verifiers, raw []byte) {
	var p consistencyProof
	if err := json.Unmarshal(raw, &p); err != nil {
		fail("proof JSON: %v", err)
	}
	old, now := open(p.Old.Note, verifiers), open(p.New.Note, verifiers)
	if now != trusted {
		fail("the newer checkpoint is not the trusted one")
	}
	if headRoot(p.OldHeads) != old.root || headRoot(p.NewHeads) != now.root {
		fail("the head lists do not give the signed roots")
	}
	moved := map[int64]bool{}
	for _, s := range p.Shards {
		moved[s.Shard] = true
		o, n := p.OldHeads[s.Shard], p.NewHeads[s.Shard]
		if o[1] != s.OldRoot || n[1] != s.NewRoot || int64(o[0].(float64)) != s.OldSize ||
			int64(n[0].(float64)) != s.NewSize {
			fail("shard %d proof is not about the signed heads", s.Shard)
		}
		if s.OldSize == 0 {
			continue
		}
		err := tlog.CheckTree(hashes(s.Proof), s.NewSize, hash(s.NewRoot), s.OldSize, hash(s.OldRoot))
		if err != nil {
			fail("shard %d: %v", s.Shard, err)
		}
	}
	for k := range p.OldHeads {
		if !moved[int64(k)] && p.OldHeads[k] != p.NewHeads[k] {
			fail("shard %d moved without a proof", k)
		}
	}
}

func main() {
	if len(os.Args) < 4 {
		fail("usage: verify KEYFILE CHECKPOINT PROOF.json [--consistency]")
	}
	key, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(key)))
	if err != nil {
		fail("verifier key: %v", err)
	}
	verifiers := note.VerifierList(verifier)
	checkpoint, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail("%v", err)
	}
	trusted := open(string(checkpoint), verifiers)
	raw, err := os.ReadFile(os.Args[3])
	if err != nil {
		fail("%v", err)
	}
	if len(os.Args) > 4 && os.Args[4] == "--consistency" {
		checkConsistency(trusted, verifiers, raw)
	} else {
		checkInclusion(trusted, verifiers, raw)
	}
	fmt.Println("ok")
}

package abi

// KVOp is the operation of a KVRequest.
type KVOp uint8

// Key-value operations.
const (
	KVGet    KVOp = 1 // the value and version of Key
	KVSet    KVOp = 2 // store Value under Key, whatever its version
	KVDelete KVOp = 3 // remove Key; with Version ≠ 0 only if it has that version
	KVList   KVOp = 4 // keys starting with Key (a prefix), after After, at most Limit
	// KVCompareAndSet stores Value under Key only if the key has Version
	// now (0: only if the key does not exist).
	KVCompareAndSet KVOp = 5
)

// KVRequest is the frame of the kv import. Every op carries every field;
// the ones an op does not use are empty.
type KVRequest struct {
	Op      KVOp
	Key     string // the key; for KVList the prefix ("" lists every key)
	Value   []byte // KVSet, KVCompareAndSet
	Version uint64 // KVCompareAndSet, KVDelete: the version the key must have
	After   string // KVList: start after this key ("" from the first)
	Limit   uint32 // KVList: at most this many entries; 0: the host's default
}

// KVEntry is one key of a KVList result.
type KVEntry struct {
	Key     string
	Version uint64
	Value   []byte
}

// KVResult is the answer to a KVRequest. What it holds depends on the op:
//
//	KVGet             Found, and if found Version and Value
//	KVSet, KVCompare… Version: the key's new version
//	KVDelete          Found: whether the key existed (and was removed)
//	KVList            Entries in key order, More when keys are left
type KVResult struct {
	Err     *Error // nil on success
	Found   bool
	Version uint64
	Value   []byte
	Entries []KVEntry
	More    bool
}

// AppendKVRequest appends the encoding of r to b.
func AppendKVRequest(b []byte, r *KVRequest) []byte {
	b = append(b, byte(r.Op))
	b = appendString(b, r.Key)
	b = appendBytes(b, r.Value)
	b = appendU64(b, r.Version)
	b = appendString(b, r.After)
	return appendU32(b, r.Limit)
}

// DecodeKVRequest decodes a KVRequest frame; an unknown op is an error.
func DecodeKVRequest(b []byte) (KVRequest, error) {
	d := decoder{b: b}
	r := KVRequest{
		Op:    KVOp(d.u8("op")),
		Key:   d.str("key"),
		Value: d.bytes("value"),
	}
	r.Version = d.u64("version")
	r.After = d.str("after")
	r.Limit = d.u32("limit")
	if d.err == nil && (r.Op < KVGet || r.Op > KVCompareAndSet) {
		d.fail("unknown op")
	}
	return r, d.finish()
}

// AppendKVResult appends the encoding of r, the answer to op, to b.
func AppendKVResult(b []byte, op KVOp, r *KVResult) []byte {
	b, done := appendOutcome(b, r.Err)
	if done {
		return b
	}
	switch op {
	case KVGet:
		b = appendBool(b, r.Found)
		if r.Found {
			b = appendU64(b, r.Version)
			b = appendBytes(b, r.Value)
		}
	case KVSet, KVCompareAndSet:
		b = appendU64(b, r.Version)
	case KVDelete:
		b = appendBool(b, r.Found)
	case KVList:
		b = appendU32(b, uint32(len(r.Entries)))
		for i := range r.Entries {
			e := &r.Entries[i]
			b = appendString(b, e.Key)
			b = appendU64(b, e.Version)
			b = appendBytes(b, e.Value)
		}
		b = appendBool(b, r.More)
	}
	return b
}

// DecodeKVResult decodes the KVResult frame answering op.
func DecodeKVResult(op KVOp, b []byte) (KVResult, error) {
	d := decoder{b: b}
	var r KVResult
	switch d.u8("result kind") {
	case 0:
	case 1:
		r.Err = d.error()
		return r, d.finish()
	default:
		d.fail("unknown result kind")
		return r, d.finish()
	}
	switch op {
	case KVGet:
		if r.Found = d.bool("found"); r.Found {
			r.Version = d.u64("version")
			r.Value = d.bytes("value")
		}
	case KVSet, KVCompareAndSet:
		r.Version = d.u64("version")
	case KVDelete:
		r.Found = d.bool("found")
	case KVList:
		// Each entry takes at least 16 bytes: two lengths and a version.
		n := d.count(int(d.u32("entry count")), 16, "entry")
		if n > 0 {
			r.Entries = make([]KVEntry, n)
			for i := range r.Entries {
				r.Entries[i] = KVEntry{Key: d.str("key"), Version: d.u64("version"), Value: d.bytes("value")}
			}
		}
		r.More = d.bool("more")
	}
	return r, d.finish()
}

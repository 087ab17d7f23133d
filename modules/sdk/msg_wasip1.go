//go:build wasip1

package sdk

import (
	"unsafe"

	"github.com/edgeplane/edge/modules/abi"
)

//go:wasmimport edge msg_publish
func hostMsgPublish(reqPtr unsafe.Pointer, reqLen uint32) int32

var publishBuf []byte // one call at a time per instance

func publish(topic string, payload []byte, qos byte, retain bool) error {
	if qos > 1 {
		return publishError(topic, abi.CodeBadRequest)
	}
	publishBuf = abi.AppendPublishRequest(publishBuf[:0], &abi.PublishRequest{Topic: topic, Payload: payload, QoS: qos, Retain: retain})
	n := hostMsgPublish(unsafe.Pointer(unsafe.SliceData(publishBuf)), uint32(len(publishBuf)))
	if cap(publishBuf) > 64<<10 {
		publishBuf = nil
	}
	if n < 0 {
		return callError("publish", n)
	}
	return publishError(topic, abi.ErrorCode(n))
}

// triggerFrame returns the frame at ptr, which must lie in the buffer
// edge_alloc returned (as edgeHandle checks), or nil.
func triggerFrame(ptr, n uint32) []byte {
	buf := server.reqBuf
	if len(buf) == 0 || uintptr(ptr) != uintptr(unsafe.Pointer(unsafe.SliceData(buf))) || int(n) > len(buf) {
		Log(LevelError, "trigger frame outside the edge_alloc buffer")
		return nil
	}
	server.reqBuf = nil // the decoders copy: the buffer is garbage after this call
	return buf[:n]
}

//go:wasmexport edge_on_message
func edgeOnMessage(ptr, n uint32) int32 {
	b := triggerFrame(ptr, n)
	if b == nil {
		return abi.TriggerRetry
	}
	f, err := abi.DecodeMessage(b)
	if err != nil {
		Log(LevelError, "edge_on_message: "+err.Error())
		return abi.TriggerDrop
	}
	return dispatchMessage(messageFromFrame(&f))
}

//go:wasmexport edge_on_timer
func edgeOnTimer(ptr, n uint32) int32 {
	b := triggerFrame(ptr, n)
	if b == nil {
		return abi.TriggerRetry
	}
	f, err := abi.DecodeTimer(b)
	if err != nil {
		Log(LevelError, "edge_on_timer: "+err.Error())
		return abi.TriggerRetry
	}
	return dispatchTimer(tickFromFrame(&f))
}

"""The Open Inference Protocol over gRPC: GRPCInferenceService on the same models as HTTP.

May import: runtime, tensors, stack, service.errors; never Flask or the HTTP API. The stubs
(grpc_predict_v2_pb2*.py) are generated from grpc_predict_v2.proto when the package is built.

The protocol's messages live in protobuf's one default pool under the names every Open
Inference Protocol client uses (inference.ModelInferRequest, ...): a process that imports these
stubs cannot also import another copy, such as tritonclient's. The tests therefore reach this
package only through a server process.
"""

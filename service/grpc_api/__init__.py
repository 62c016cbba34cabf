"""The Open Inference Protocol over gRPC: GRPCInferenceService on the same models as HTTP.

May import: runtime, tensors, stack, service.errors; never Flask or the HTTP API. The stubs
(grpc_predict_v2_pb2*.py) are generated from grpc_predict_v2.proto when the package is built.
"""

"""Names shared by the operator, the webhook, the chart and the tests."""

from typing import Final

GROUP: Final = "modelprefetch.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "ModelDeployment"
PLURAL: Final = "modeldeployments"
SINGULAR: Final = "modeldeployment"
SHORT_NAMES: Final = ("md", "mdep")

FIELD_MANAGER: Final = "modelprefetch"
FINALIZER: Final = f"{GROUP}/cleanup"

# Pods opt in to the webhook with this label naming one ModelDeployment; more models
# for the same pod are listed in the annotation below.
POD_MODEL_LABEL: Final = f"{GROUP}/model"
POD_MODELS_ANNOTATION: Final = f"{GROUP}/models"
POD_INJECTED_ANNOTATION: Final = f"{GROUP}/injected"
# ...and the label of the same key (value "true"), so that the operator can watch exactly
# the pods that use models (a watch selects by labels, never by annotations).
POD_INJECTED_LABEL: Final = f"{GROUP}/injected"

# On a ModelDeployment, "true": it may be deleted although running pods still mount it.
ANNOTATION_ALLOW_DELETE_IN_USE: Final = f"{GROUP}/allow-delete-in-use"

# Labels on every object the operator creates.
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_PART_OF: Final = "app.kubernetes.io/part-of"
MANAGED_BY_VALUE: Final = "modelprefetch"
LABEL_DEPLOYMENT: Final = f"{GROUP}/modeldeployment"
LABEL_DEPLOYMENT_NAMESPACE: Final = f"{GROUP}/modeldeployment-namespace"
LABEL_DIGEST: Final = f"{GROUP}/digest"

# Node labels for waves and warm nodes: see modelprefetch.core.labels.

ANNOTATION_EXPECTED_FILES: Final = f"{GROUP}/expected-files"

# Environment variables the webhook gives to serving containers.
ENV_MODEL_PATH: Final = "MODEL_PATH"
ENV_MODEL_NAME: Final = "MODEL_NAME"
ENV_MODEL_FORMAT: Final = "MODEL_FORMAT"
ENV_MODEL_DIGEST: Final = "MODEL_DIGEST"
ENV_MODEL_REFERENCE: Final = "MODEL_REFERENCE"

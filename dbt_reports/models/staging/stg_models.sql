with

source as (

    select * from {{ source('evals', 'models') }}

),

renamed as (

    select
        -- ids
        model,
        display_name,
        hf_id,
        kind,

        -- numerics
        params_b,
        active_params_b,
        tensor_parallel_size,

        -- booleans
        instruct as is_instruct

    from source

)

select * from renamed

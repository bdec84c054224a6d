with

source as (

    select * from {{ source('evals', 'predictions') }}

),

renamed as (

    select
        -- ids
        model,
        dataset,
        spec_hash,
        item_id,
        item_group,
        run_id,
        prompt_hash,
        weights_revision,

        -- outputs
        outputs,
        finish_reasons,
        logprobs,
        error,

        -- numerics
        tokens_in,
        tokens_out,
        latency_s,

        -- timestamps
        created_at

    from source

)

select * from renamed
